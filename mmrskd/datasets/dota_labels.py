"""Reading DOTA ``labelTxt`` annotation files (v1.0 / v1.5).

Format (one object per line, after optional header lines)::

    imagesource:GoogleEarth
    gsd:0.146343590398
    x1 y1 x2 y2 x3 y3 x4 y4 category difficult

The difficult flag may be missing in some releases (then 0).
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

DOTA_V1_CLASSES = (
    'plane', 'baseball-diamond', 'bridge', 'ground-track-field',
    'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
    'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
    'harbor', 'swimming-pool', 'helicopter')
DOTA_V15_CLASSES = DOTA_V1_CLASSES + ('container-crane', )


class DOTAFormatError(ValueError):
    """A labelTxt line that is not a DOTA annotation."""


@dataclass
class DOTAObject:
    """One annotated object: 4-point polygon, class name, difficult flag."""
    poly: Tuple[float, ...]
    category: str
    difficult: bool
    line: int

    def hbox(self) -> Tuple[float, float, float, float]:
        """Axis-aligned extent ``(x1, y1, x2, y2)`` of the polygon."""
        xs, ys = self.poly[0::2], self.poly[1::2]
        return min(xs), min(ys), max(xs), max(ys)

    def area(self) -> float:
        """Polygon area (shoelace)."""
        xs, ys = self.poly[0::2], self.poly[1::2]
        return 0.5 * abs(sum(xs[i] * ys[(i + 1) % 4] - xs[(i + 1) % 4] * ys[i]
                             for i in range(4)))


@dataclass
class DOTAAnnotation:
    objects: List[DOTAObject]
    imagesource: Optional[str] = None
    gsd: Optional[float] = None


def parse_dota_file(path: str,
                    classes: Optional[Tuple[str, ...]] = None
                    ) -> DOTAAnnotation:
    """Parse one labelTxt file; errors name the file and the line number.

    Args:
        path: the ``.txt`` file.
        classes: known class names; an object of another class is an error
            (None accepts any name).
    """
    ann = DOTAAnnotation(objects=[])
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(':')
        if sep and key.strip().lower() in ('imagesource', 'gsd'):
            if key.strip().lower() == 'imagesource':
                ann.imagesource = value.strip()
            else:
                try:
                    ann.gsd = float(value) if value.strip() not in (
                        '', 'null', 'None') else None
                except ValueError:
                    raise DOTAFormatError(
                        f'{path}, line {lineno}: bad gsd value '
                        f'{value.strip()!r}.') from None
            continue
        parts = line.split()
        if len(parts) not in (9, 10):
            raise DOTAFormatError(
                f'{path}, line {lineno}: expected "x1 y1 x2 y2 x3 y3 x4 y4 '
                f'category difficult", got {raw!r}.')
        try:
            poly = tuple(float(v) for v in parts[:8])
        except ValueError:
            raise DOTAFormatError(
                f'{path}, line {lineno}: coordinates must be numbers, got '
                f'{raw!r}.') from None
        category = parts[8]
        if classes is not None and category not in classes:
            raise DOTAFormatError(
                f'{path}, line {lineno}: unknown category {category!r}; '
                f'known: {list(classes)}.')
        difficult = parts[9] if len(parts) == 10 else '0'
        if difficult not in ('0', '1'):
            raise DOTAFormatError(
                f'{path}, line {lineno}: difficult flag must be 0 or 1, got '
                f'{difficult!r}.')
        ann.objects.append(DOTAObject(poly, category, difficult == '1',
                                      lineno))
    return ann
