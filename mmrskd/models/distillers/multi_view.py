"""Several augmented views of each training image (e.g. MLKD's weak and
strong views): batches of ``mmpretrain``'s ``MultiView`` transform, whose
samples carry a list of images, preprocessed one view at a time."""
from typing import Optional

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS


def split_views(inputs) -> Optional[list]:
    """The views of a multi-view batch, each as its preprocessor takes a
    batch, or None for a single-view batch. ``pseudo_collate`` gives one
    list of views per sample, ``default_collate`` one stacked (N, C, H, W)
    tensor per view."""
    if not isinstance(inputs, (list, tuple)) or not inputs:
        return None
    if isinstance(inputs[0], (list, tuple)):
        return [[x[v] for x in inputs] for v in range(len(inputs[0]))]
    if isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
        return list(inputs)
    return None


@MODELS.register_module()
class MultiViewDataPreprocessor(BaseDataPreprocessor):
    """Run ``base`` (the distiller's preprocessor) on each view of a
    multi-view batch; ``inputs`` (and ``teacher_inputs``) become lists with
    one batch tensor per view, in the order of the ``MultiView`` transforms.
    Single-view batches (validation, test) pass through ``base`` unchanged.

    Batch augmentations (Mixup, CutMix) would mix each view with another
    partner and labels: they are refused.
    """

    def __init__(self, base, views: int):
        super().__init__()
        self.base = MODELS.build(base) if isinstance(base, dict) else base
        self.views = views
        if getattr(getattr(self.base, 'student', self.base), 'batch_augments',
                   None) is not None:
            raise ValueError('Multi-view training cannot be combined with '
                             'batch augmentations (Mixup, CutMix).')

    def forward(self, data: dict, training: bool = False) -> dict:
        views = split_views(data['inputs'])
        if views is None:
            return self.base(data, training)
        if len(views) != self.views or any(
                len(v) != len(views[0]) for v in views):
            raise ValueError(
                f'The distiller expects {self.views} views of every training '
                f'image (views={self.views}); the batch holds '
                f'{len(views)}. Use a MultiView transform with that many '
                'views.')
        outs = [self.base(dict(data, inputs=v), training) for v in views]
        out = dict(outs[0], inputs=[o['inputs'] for o in outs])
        if 'teacher_inputs' in outs[0]:
            out['teacher_inputs'] = [o['teacher_inputs'] for o in outs]
        return out

    def cast_data(self, data: Optional[dict]):
        return self.base.cast_data(data)
