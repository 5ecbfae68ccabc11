"""``--cfg-options`` parsing that keeps the spaces inside a value.

mmengine's ``DictAction`` deletes every space of a value before parsing it
(``'a b'`` becomes ``'ab'``), so a path such as NWPU VHR-10's official
``data/NWPU VHR-10 dataset/`` reaches the config as
``data/NWPUVHR-10dataset/``. :class:`KeepSpacesDictAction` parses lists,
tuples, numbers, booleans and ``None`` exactly as mmengine does, but strips
spaces only around an element (``[1, 2]`` is still ``[1, 2]``); spaces inside
an element survive. The value must reach the tool as one shell word::

  --cfg-options "train_dataloader.dataset.data_root=data/NWPU VHR-10 dataset/"
"""
from argparse import ArgumentParser, Namespace
from typing import Any, List, Sequence, Union

from mmengine.config import DictAction


def split_top_level(text: str) -> List[str]:
    """Split ``text`` at the commas that are outside brackets, as mmengine's
    ``DictAction`` does (an unbalanced text raises the same error)."""
    if text.count('(') != text.count(')') or \
            text.count('[') != text.count(']'):
        raise AssertionError(f'Imbalanced brackets exist in {text}')
    parts, depth, start = [], 0, 0
    for idx, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            parts.append(text[start:idx])
            start = idx + 1
    if start < len(text):
        parts.append(text[start:])
    return parts


class KeepSpacesDictAction(DictAction):
    """mmengine's ``DictAction`` without deleting spaces inside values.

    ``key=a b`` gives ``'a b'`` (mmengine: ``'ab'``); ``key=[1, 2]``,
    ``key=(a, b)``, ``key=1,2``, ``key=True`` parse as in mmengine. A word
    without ``=`` (an unquoted value with spaces, split by the shell) is
    refused with an error that says how to quote it.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Union[list, tuple, Any]:
        """Like mmengine's: quotes stripped, ``(...)`` a tuple, ``[...]``
        or a comma-separated text a list, else a scalar; but only the
        whitespace around an element is removed."""
        val = val.strip().strip('\'"').strip()
        is_tuple = False
        if val.startswith('(') and val.endswith(')'):
            is_tuple, val = True, val[1:-1]
        elif val.startswith('[') and val.endswith(']'):
            val = val[1:-1]
        elif ',' not in val:
            return DictAction._parse_int_float_bool(val)
        values = [KeepSpacesDictAction._parse_iterable(part)
                  for part in split_top_level(val.strip())]
        return tuple(values) if is_tuple else values

    def __call__(self, parser: ArgumentParser, namespace: Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: str = None):  # type: ignore
        for kv in values or []:
            if '=' not in kv:
                parser.error(
                    f'{option_string}: "{kv}" is not KEY=VALUE. A value '
                    'with spaces must be quoted as one shell word, e.g. '
                    f'{option_string} "train_dataloader.dataset.data_root='
                    'data/NWPU VHR-10 dataset/".')
        super().__call__(parser, namespace, values, option_string)
