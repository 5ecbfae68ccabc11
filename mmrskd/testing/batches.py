"""Fixed synthetic batches in the format the data loaders produce, for the
benchmarks and the tests (a train step on them runs the full pipeline from
the data preprocessor on)."""
from typing import List

import torch


def cls_batch(n: int, size: int, num_classes: int, seed: int = 0) -> dict:
    """``n`` uint8 images of ``size`` px with mmpretrain ``DataSample`` labels
    and dataset indices (``sample_idx`` 0..n-1, as PackInputs packs)."""
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(n)]
    labels = torch.randint(0, num_classes, (n,), generator=g)
    samples = [DataSample(metainfo=dict(sample_idx=i)).set_gt_label(int(y))
               for i, y in enumerate(labels)]
    return dict(inputs=inputs, data_samples=samples)


def det_batch(n: int, size: int, num_classes: int, boxes_per_image: int = 4,
              seed: int = 0) -> dict:
    """``n`` uint8 images with random ground-truth boxes (mmdet samples)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    inputs: List[torch.Tensor] = []
    samples = []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g,
                                    dtype=torch.uint8))
        xy = torch.rand(boxes_per_image, 2, generator=g) * size * 0.7
        wh = (torch.rand(boxes_per_image, 2, generator=g) * 0.25 + 0.05) * size
        s = DetDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size),
                                        scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=size)], 1),
            labels=torch.randint(0, num_classes, (boxes_per_image,),
                                 generator=g))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)
