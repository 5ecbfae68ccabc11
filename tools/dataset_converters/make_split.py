# Copyright (c) mmrskd authors.
"""Write the stratified train/(val/)test split of a scene dataset to files.

    python tools/dataset_converters/make_split.py data/NWPU-RESISC45 \
        --dataset NWPURESISC45 --train-ratio 0.8 --seed 0 --out-dir data/splits

writes ``train.txt`` and ``test.txt`` with ``<path relative to data_root>
<label index>`` lines: the exact split that the dataset computes on the fly
with the same arguments, in the format its ``ann_file`` accepts. With
``--val-ratio 0.1`` it also writes ``val.txt`` (a validation share carved
out of the training share, to select checkpoints on) and ``train.txt``
excludes it; ``test.txt`` is the same as without ``--val-ratio``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmrskd  # noqa: E402,F401
from mmpretrain.registry import DATASETS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('data_root', help='folder with one sub-folder per class')
    parser.add_argument('--dataset', default='RSSceneDataset',
                        help='dataset class: RSSceneDataset (classes from '
                        'folders), NWPURESISC45, AID, UCMerced, RSSCN7, RSOD')
    parser.add_argument('--train-ratio', type=float, default=0.8)
    parser.add_argument('--val-ratio', type=float, default=0.0,
                        help='share of each class moved from the training '
                        'share to val.txt (e.g. 0.1); 0 = no val.txt')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', default=None,
                        help='default: the data_root\'s parent folder')
    args = parser.parse_args(argv)

    cls = DATASETS.get(args.dataset)
    if cls is None:
        parser.error(f'unknown dataset {args.dataset!r}')
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.data_root))
    os.makedirs(out_dir, exist_ok=True)
    splits = ('train', 'val', 'test') if args.val_ratio else ('train', 'test')
    for split in splits:
        ds = cls(data_root=args.data_root, split=split,
                 train_ratio=args.train_ratio, val_ratio=args.val_ratio,
                 split_seed=args.seed)
        path = osp.join(out_dir, f'{split}.txt')
        with open(path, 'w') as f:
            for i in range(len(ds)):
                info = ds.get_data_info(i)
                rel = osp.relpath(info['img_path'], args.data_root)
                f.write(f"{rel.replace(os.sep, '/')} {info['gt_label']}\n")
        print(f'{split}: {len(ds)} images -> {path}')


if __name__ == '__main__':
    main()
