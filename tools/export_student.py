# Copyright (c) mmrskd authors.
"""Write the student of a distiller checkpoint as a plain checkpoint.

    python tools/export_student.py work_dirs/isdm_r34_r18_nwpu/epoch_200.pth \
        r18_nwpu_isdm.pth

The output loads with the student's own config in plain mmpretrain/mmdet
(e.g. ``tools/test.py configs/resnet18_nwpu.py r18_nwpu_isdm.pth``): no
teacher, no connectors, no ISDM scaler.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmrskd.apis import export_student  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('checkpoint', help='distiller checkpoint')
    parser.add_argument('out', help='output file')
    args = parser.parse_args(argv)
    print(f'wrote {export_student(args.checkpoint, args.out)}')


if __name__ == '__main__':
    main()
