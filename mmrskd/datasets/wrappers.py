"""Reach the dataset inside mmengine's dataset wrappers."""


def unwrap_dataset(dataset):
    """The dataset inside wrappers such as ``RepeatDataset`` or
    ``ClassBalancedDataset`` (each holds the wrapped one as ``.dataset``)."""
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


def innermost_dataset(dataset_cfg: dict) -> dict:
    """The config of the dataset inside wrapper configs (``RepeatDataset``,
    ``ClassBalancedDataset``...): :func:`unwrap_dataset` for configs."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg
