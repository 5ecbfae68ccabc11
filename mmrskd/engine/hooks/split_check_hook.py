"""Refuse a validation split that overlaps the training images."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...datasets.wrappers import unwrap_dataset

#: the dataset arguments that decide which images form each split.
SPLIT_ARGS = ('data_root', 'train_ratio', 'split_seed', 'val_ratio')


@HOOKS.register_module()
class SplitCheckHook(Hook):
    """Before training, check that a ``split='val'`` validation set was
    carved out of the training share the training set really excludes.

    ``val_ratio`` must be given to both the training and the validation
    dataset (README, "Model selection"); with it on the validation dataset
    only, the training set would still hold the validation images and a
    checkpoint selected on them would be optimistic. Does nothing unless the
    validation dataset is a scene dataset with ``split='val'`` computed on the
    fly (split files written by ``make_split.py`` are disjoint already).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        loop = getattr(runner, '_val_loop', None)
        if loop is None or runner.train_dataloader is None:
            return
        val_loader = getattr(loop, 'dataloader', None)
        if val_loader is None or isinstance(val_loader, dict):
            return
        val = unwrap_dataset(val_loader.dataset)
        if getattr(val, 'split', None) != 'val':
            return
        train = unwrap_dataset(runner.train_dataloader.dataset)
        if getattr(train, 'ann_file', '') or getattr(val, 'ann_file', ''):
            return  # split files (make_split.py) are disjoint by design
        differ = {a: (getattr(train, a, None), getattr(val, a, None))
                  for a in SPLIT_ARGS
                  if getattr(train, a, None) != getattr(val, a, None)}
        if differ:
            raise ValueError(
                'The validation dataset (split=\'val\') and the training '
                'dataset are split differently, so the training set may hold '
                f'validation images: {differ} (train, val). Give both the '
                'same data_root, train_ratio, split_seed and val_ratio (e.g. '
                '--cfg-options train_dataloader.dataset.val_ratio=0.1 '
                'val_dataloader.dataset.val_ratio=0.1).')
