"""Image files on disk: the extensions the datasets and converters read,
listing and finding them, and their size without decoding them."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from PIL import Image

#: image file extensions (lower case) the datasets and the converters read;
#: :func:`find_image` tries them in this order.
IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


def list_images(folder: str,
                extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """Sorted names of the image files directly in ``folder`` (extension
    matched ignoring case; hidden files and sub-folders left out)."""
    exts = tuple(e.lower() for e in extensions)
    return sorted(f for f in os.listdir(folder)
                  if f.lower().endswith(exts) and not f.startswith('.')
                  and osp.isfile(osp.join(folder, f)))


def find_image(folder: str, stem: str,
               suffixes: Sequence[str] = IMG_EXTENSIONS) -> Optional[str]:
    """The image ``folder/stem.<suffix>`` with any known suffix (lower or
    upper case), the first in the order of ``suffixes``; None if none."""
    for suffix in suffixes:
        for cand in (stem + suffix, stem + suffix.upper()):
            path = osp.join(folder, cand)
            if osp.isfile(path):
                return path
    return None


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` from the image header (no full decode)."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f'Cannot read image "{path}": {exc}') from exc
