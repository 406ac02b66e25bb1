"""Evaluation: test accuracy with both 95% intervals, of a learner or of a run's checkpoints."""

from cxgrad.evaluation.accuracy import TEST_TASKS, EvalResult, confidence_intervals, evaluate
from cxgrad.evaluation.run import evaluate_run, select_checkpoints

__all__ = [
    "TEST_TASKS",
    "EvalResult",
    "confidence_intervals",
    "evaluate",
    "evaluate_run",
    "select_checkpoints",
]
