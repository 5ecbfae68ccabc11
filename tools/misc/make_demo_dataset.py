# Copyright (c) mmrskd authors.
"""Generate the synthetic aerial-scene demo set (folder-per-class layout).

    python tools/misc/make_demo_dataset.py data/demo_scenes --per-class 80

The same seed gives the same images on every machine.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrskd.testing.demo_scenes import CLASSES, make_demo_scenes  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('out_dir', nargs='?', default='data/demo_scenes')
    parser.add_argument('--per-class', type=int, default=80,
                        help='images per class (default 80)')
    parser.add_argument('--size', type=int, default=64,
                        help='image side in pixels (default 64)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--classes', nargs='+', default=list(CLASSES),
                        help=f'subset of {list(CLASSES)}')
    args = parser.parse_args(argv)
    make_demo_scenes(args.out_dir, args.per_class, args.size, args.seed,
                     tuple(args.classes))
    print(f'wrote {args.per_class} x {len(args.classes)} scenes of '
          f'{args.size} px to {args.out_dir}')


if __name__ == '__main__':
    main()
