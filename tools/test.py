# Copyright (c) mmrskd authors. Test (and evaluate) a classifier, detector or
# distilled student. Same flags as mmpretrain 1.2's / mmdet 3.3's test.py.
# A distiller config is tested on its student alone: the teacher is never
# built or loaded.
import argparse
import os
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmengine  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd.apis import cli  # noqa: E402
from mmrskd.apis.options import KeepSpacesDictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a model (mmrskd)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir',
                        help='the directory to save evaluation metrics')
    parser.add_argument('--out', help='the file to output results to')
    parser.add_argument(
        '--out-item', choices=['metrics', 'pred'],
        help='write the metrics or the predictions (default) to --out')
    parser.add_argument(
        '--cfg-options', nargs='+', action=KeepSpacesDictAction,
        help='override settings in the config, key=value pairs; quote a '
        'value with spaces as one word: '
        '"test_dataloader.dataset.data_root=data/NWPU VHR-10 dataset/"')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision test')
    parser.add_argument('--show-dir',
                        help='directory to save visualized predictions')
    parser.add_argument('--show', action='store_true',
                        help='display predictions in a window')
    parser.add_argument('--interval', type=int, default=1,
                        help='visualize every this many samples')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='display time of every window (s)')
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='disable pin_memory in the dataloader')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (flip by default)')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out')
    return args


def student_checkpoint(path, tmp_dir):
    """``path`` itself if it is a plain checkpoint, else its exported
    student in ``tmp_dir``."""
    from mmrskd.apis import export_student
    from mmrskd.utils.state_dict import (checkpoint_state, is_distiller_state,
                                         read_checkpoint)
    if not is_distiller_state(checkpoint_state(read_checkpoint(path))):
        return path
    return export_student(path, osp.join(tmp_dir, 'student.pth'))


def merge_args(cfg, args, tmp_dir):
    """Merge the command-line arguments into the config."""
    cfg.launcher = args.launcher
    cli.set_work_dir(cfg, args.work_dir, args.config)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'Checkpoint "{args.checkpoint}" does not exist.')
    cfg.load_from = args.checkpoint
    if cli.to_student_only(cfg):
        # A distiller config is tested on its student alone; its training
        # checkpoints hold the student under `student.`.
        cfg.load_from = student_checkpoint(args.checkpoint, tmp_dir)
    if args.amp:
        cfg.test_cfg.fp16 = True

    if args.show or args.show_dir is not None:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise RuntimeError(
                '--show/--show-dir need a `visualization` entry in '
                '`default_hooks` of the config.')
        hook.enable = True
        hook.show = args.show
        hook.wait_time = args.wait_time
        hook.interval = args.interval
        if cli.is_detection(cfg):
            hook.draw = True
            hook.test_out_dir = args.show_dir
        else:
            hook.out_dir = args.show_dir

    if args.tta:
        cli.add_flip_tta(cfg)

    cli.set_dataloader_defaults(cfg, ('test_dataloader', ),
                                pin_memory=not args.no_pin_memory,
                                persistent_workers=None)
    cli.use_gloo_without_gpu(cfg)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = cli.load_config(args.config, args.cfg_options)
    with tempfile.TemporaryDirectory(prefix='mmrskd_test_') as tmp_dir:
        cfg = merge_args(cfg, args, tmp_dir)
        with cli.distributed_run():
            return run(cfg, args)


def run(cfg, args):
    """Build the runner, test, and write what --out asks for."""
    runner = cli.build_runner(cfg)

    if args.out and args.out_item in ('pred', None):
        if cli.is_detection(cfg):
            from mmdet.evaluation import DumpDetResults
            if not args.out.endswith(('.pkl', '.pickle')):
                raise ValueError('--out for detection must be a .pkl file.')
            runner.test_evaluator.metrics.append(
                DumpDetResults(out_file_path=args.out))
        else:
            runner.test_evaluator.metrics.append(
                DumpResults(out_file_path=args.out))

    metrics = runner.test()

    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    return metrics


if __name__ == '__main__':
    main()
