# Copyright (c) mmrskd authors.
"""Cut DOTA-style images into overlapping patches (several processes).

    python tools/dataset_converters/dota_split.py data/DOTA/train \
        data/DOTA_split/train --size 1024 --gap 200 --rates 1.0

IN_ROOT holds ``images/`` and ``labelTxt/``; OUT_ROOT gets the patches in the
same layout (``<image>__<rate>__<x0>___<y0>``), boxes clipped to the patch,
an object dropped from a patch when less than ``--keep-share`` of its box
lies inside. ``tools/dataset_converters/dota_merge.py`` maps patch
detections back to the full images.
"""
import argparse
import glob
import os.path as osp
import sys
from functools import partial
from multiprocessing import Pool

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrskd.apis.dota_patches import ensure_dirs, split_image  # noqa: E402
from mmrskd.datasets.image_files import find_image  # noqa: E402


def _one(label_path, img_dir, out, **kwargs):
    stem = osp.splitext(osp.basename(label_path))[0]
    img = find_image(img_dir, stem)
    if img is None:
        raise FileNotFoundError(f'No image for {label_path} in {img_dir}.')
    return split_image(img, label_path, out, **kwargs)


def split_dataset(in_root, out_root, size=1024, gap=200, rates=(1.0, ),
                  keep_share=0.7, skip_empty=False, nproc=2):
    """Returns the number of patches written."""
    label_dir = osp.join(in_root, 'labelTxt')
    img_dir = osp.join(in_root, 'images')
    if not osp.isdir(label_dir) or not osp.isdir(img_dir):
        raise FileNotFoundError(f'"{in_root}" must hold images/ and '
                                'labelTxt/.')
    ensure_dirs(out_root)
    labels = sorted(glob.glob(osp.join(label_dir, '*.txt')))
    work = partial(_one, img_dir=img_dir, out=out_root, size=size, gap=gap,
                   rates=tuple(rates), keep_share=keep_share,
                   skip_empty=skip_empty)
    if nproc > 1:
        with Pool(nproc) as pool:
            counts = pool.map(work, labels)
    else:
        counts = [work(p) for p in labels]
    return sum(counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('in_root')
    parser.add_argument('out_root')
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--gap', type=int, default=200)
    parser.add_argument('--rates', type=float, nargs='+', default=[1.0],
                        help='image scales, e.g. 0.5 1.0 1.5')
    parser.add_argument('--keep-share', type=float, default=0.7,
                        help='minimum share of a box inside a patch')
    parser.add_argument('--skip-empty', action='store_true',
                        help='do not write patches without objects')
    parser.add_argument('--nproc', type=int, default=2)
    args = parser.parse_args(argv)
    n = split_dataset(args.in_root, args.out_root, args.size, args.gap,
                      args.rates, args.keep_share, args.skip_empty,
                      args.nproc)
    print(f'wrote {n} patches to {args.out_root}')


if __name__ == '__main__':
    main()
