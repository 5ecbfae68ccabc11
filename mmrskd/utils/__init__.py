from .checkpoint_compat import allow_mmengine_checkpoints
from .progress import (TRAIN_LOOP_KEY, TrainLoopInfo, current_epoch,
                       current_iter, describe_train_loop, epochs_countable,
                       in_training, iters_per_epoch, train_loop_info,
                       training_epoch, training_progress)
from .state_dict import (CheckpointReadError, checkpoint_state,
                         model_weights, read_checkpoint, state_differences,
                         student_state_dict)

__all__ = [
    'allow_mmengine_checkpoints', 'CheckpointReadError', 'checkpoint_state',
    'model_weights', 'read_checkpoint', 'state_differences',
    'student_state_dict', 'TRAIN_LOOP_KEY', 'TrainLoopInfo', 'current_epoch',
    'current_iter', 'describe_train_loop', 'epochs_countable', 'in_training',
    'iters_per_epoch', 'train_loop_info', 'training_epoch',
    'training_progress'
]
