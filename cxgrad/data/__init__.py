"""Few-shot data: datasets as uint8 class-grouped tensors, and seeded episode sampling."""

from cxgrad.data.base import ClassImages, FewShotDataset
from cxgrad.data.episodes import EpisodeSampler, TaskBatch
from cxgrad.data.omniglot import load_omniglot
from cxgrad.data.paths import resolve_data_root
from cxgrad.data.registry import DATASETS, DataCheck, check_dataset, load_dataset
from cxgrad.data.synthetic import load_synthetic

__all__ = [
    "DATASETS",
    "ClassImages",
    "DataCheck",
    "EpisodeSampler",
    "FewShotDataset",
    "TaskBatch",
    "check_dataset",
    "load_dataset",
    "load_omniglot",
    "load_synthetic",
    "resolve_data_root",
]
