"""Refuse, before the first iteration on a CPU, a model that needs mmcv ops
without a CPU kernel."""
from typing import Dict, Iterator, List

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

#: model parts (registered type names, mmrotate's) -> the mmcv 2.1 ops they
#: call that have CUDA kernels only ("implementation for device cpu not
#: found", raised deep inside the first iteration otherwise)
GPU_ONLY_OPS: Dict[str, str] = {
    'RotatedIoULoss': 'diff_iou_rotated_2d',
    'ConvexGIoULoss': 'convex_giou',
    'BCConvexGIoULoss': 'convex_giou',
    'MaxConvexIoUAssigner': 'convex_iou',
    'SASAssigner': 'convex_iou, points_in_polygons',
    'RotatedRepPointsHead': 'min_area_polygons',
    'OrientedRepPointsHead': 'min_area_polygons, chamfer_distance',
    'SAMRepPointsHead': 'min_area_polygons',
    'CFAHead': 'min_area_polygons, convex_iou',
    'RiRoIAlignRotated': 'riroi_align_rotated',
}


def config_types(node) -> Iterator[str]:
    """Every ``type`` in a (nested) config, without its scope prefix."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type'].rsplit('.', 1)[-1]
        for value in node.values():
            yield from config_types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from config_types(value)


def gpu_only_parts(model_cfg: dict) -> List[str]:
    """``"<type> (<ops>)"`` for each part of ``model_cfg`` that needs an
    mmcv op without a CPU kernel."""
    found = dict.fromkeys(t for t in config_types(model_cfg)
                          if t in GPU_ONLY_OPS)
    return [f'{t} ({GPU_ONLY_OPS[t]})' for t in found]


@HOOKS.register_module()
class CPUOpsCheckHook(Hook):
    """Before a run on the CPU, a clear error when the model needs an mmcv
    op that has no CPU kernel (:data:`GPU_ONLY_OPS`) instead of a failure
    inside mmcv in the first iteration. Does nothing on a GPU."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        param = next(runner.model.parameters(), None)
        if param is None or param.device.type != 'cpu':
            return
        parts = gpu_only_parts(runner.cfg.get('model', {}))
        if parts:
            import mmcv
            raise RuntimeError(
                f'This model needs {", ".join(parts)}: mmcv ops that have '
                f'no CPU kernel in mmcv {mmcv.__version__}, and this run is '
                'on the CPU. Run it on a GPU, or on the CPU choose parts with '
                'CPU kernels (rotated RetinaNet\'s L1 box loss and '
                'rotated-IoU assigner, configs/rotated/).')
