"""The wiring of a distillation loss: its ``inputs`` (where the arguments of
its ``forward`` come from), checked against that ``forward``'s signature
when the distiller is built, and gathered from the sources at each step.

``inputs`` is either a list, filling ``forward``'s positional arguments in
order, or a dict ``{forward parameter: source}``, passed by keyword. Each
source is a source key or a list of keys (the loss gets that argument as
one tuple).
"""
import inspect
from typing import Dict, List, Tuple, Union

#: a source key, or a tuple of keys gathered into one argument
Source = Union[str, Tuple[str, ...]]
Inputs = Union[List[Source], Dict[str, Source]]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY,
               inspect.Parameter.POSITIONAL_OR_KEYWORD)


def loss_label(name: str, cfg: dict) -> str:
    """How errors name a loss: its config key and type."""
    return f'distill_losses.{name} ({cfg.get("type")})'


def normalize_inputs(inputs) -> Inputs:
    """The config's ``inputs`` with each list of sources made a tuple."""
    def source(s):
        return tuple(s) if isinstance(s, (list, tuple)) else s

    if isinstance(inputs, dict):
        return {str(k): source(s) for k, s in inputs.items()}
    return [source(s) for s in inputs]


def flat_sources(inputs: Inputs) -> list:
    """The sources of a loss's ``inputs`` (lists of sources flattened)."""
    items = inputs.values() if isinstance(inputs, dict) else inputs
    return [x for i in items
            for x in (i if isinstance(i, tuple) else (i, ))]


def gather_inputs(inputs: Inputs, sources: dict) -> Tuple[list, dict]:
    """The positional and keyword arguments of a loss call."""
    def value(s):
        return tuple(sources[x] for x in s) if isinstance(s, tuple) \
            else sources[s]

    if isinstance(inputs, dict):
        return [], {k: value(s) for k, s in inputs.items()}
    return [value(s) for s in inputs], {}


def check_loss_inputs(label: str, forward, inputs: Inputs) -> None:
    """Raise TypeError, naming the loss (``label``) and the argument, when
    ``inputs`` cannot be bound to the signature of ``forward``.

    Positional ``inputs`` must number between ``forward``'s required and
    total positional parameters (any number above the required ones with
    ``*args``); keyword ``inputs`` must name its parameters (any name with
    ``**kwargs``) and cover the required ones.
    """
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return
    names = [p.name for p in params
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    where = f'{label}: forward({", ".join(names)})'
    if isinstance(inputs, dict):
        _check_keyword(where, params, inputs)
    else:
        _check_positional(where, params, inputs)


def _check_positional(where: str, params: list, inputs: list) -> None:
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = [p for p in positional if p.default is p.empty]
    if len(inputs) < len(required):
        missing = [p.name for p in required[len(inputs):]]
        raise TypeError(
            f'{where} needs {len(required)} positional argument(s), its '
            f'inputs give {len(inputs)}: nothing for {missing}. Add their '
            'sources to inputs.')
    takes_args = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(inputs) > len(positional) and not takes_args:
        extra = inputs[len(positional):]
        raise TypeError(
            f'{where} takes at most {len(positional)} positional '
            f'argument(s), its inputs give {len(inputs)}: no parameter for '
            f'{extra}. Remove them from inputs.')
    kw_only = [p.name for p in params
               if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if kw_only:
        raise TypeError(
            f'{where}: the keyword-only argument(s) {kw_only} get nothing '
            'from positional inputs; give inputs as a dict '
            '{parameter: source}.')


def _check_keyword(where: str, params: list, inputs: dict) -> None:
    by_name = {p.name: p for p in params}
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    for key in inputs:
        p = by_name.get(key)
        if (p is None and not takes_kwargs) or (
                p is not None and p.kind in (p.POSITIONAL_ONLY,
                                             p.VAR_POSITIONAL,
                                             p.VAR_KEYWORD)):
            raise TypeError(f'{where} has no keyword argument {key!r} '
                            '(a key of inputs).')
    missing = [p.name for p in params
               if p.default is p.empty and p.name not in inputs
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise TypeError(f'{where}: inputs give nothing for the required '
                        f'argument(s) {missing}. Add them to inputs.')
