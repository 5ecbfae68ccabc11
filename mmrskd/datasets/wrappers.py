"""Reach the dataset inside mmengine's dataset wrappers."""


def unwrap_dataset(dataset):
    """The dataset inside wrappers such as ``RepeatDataset`` or
    ``ClassBalancedDataset`` (each holds the wrapped one as ``.dataset``)."""
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset
