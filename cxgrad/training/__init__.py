"""Training: the meta-training loop (Adam outer loop, validation, best-k checkpoints, resume)."""

from cxgrad.training.trainer import Trainer, TrainResult, train

__all__ = [
    "TrainResult",
    "Trainer",
    "train",
]
