"""Analysis of distilled models: the ISDM paper's figures as pure functions
(numbers) plus thin matplotlib plots (tools/analysis/distill_figures.py)."""
from .metrics import (class_centre_similarity, confusion_matrix,
                      correlation_difference, isdm_soft_labels,
                      pick_easy_and_hard)
from .loss_balance import loss_balance
from .outputs import collect_outputs, load_model
from .tsne import tsne

__all__ = ['class_centre_similarity', 'collect_outputs',
           'confusion_matrix', 'correlation_difference', 'isdm_soft_labels',
           'load_model', 'loss_balance', 'pick_easy_and_hard', 'tsne']
