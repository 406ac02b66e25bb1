"""Few-shot data: datasets as uint8 class-grouped tensors, and seeded episode sampling."""

from cxgrad.data._paths import resolve_data_root
from cxgrad.data.base import ClassImages, FewShotDataset
from cxgrad.data.cifarfs import load_cifarfs
from cxgrad.data.cub import load_cub
from cxgrad.data.episodes import EpisodeSampler, TaskBatch
from cxgrad.data.fashion_mnist import load_fashion_mnist
from cxgrad.data.miniimagenet import load_miniimagenet
from cxgrad.data.omniglot import load_omniglot
from cxgrad.data.prepare import prepare_dataset
from cxgrad.data.registry import DATASETS, DataCheck, check_dataset, load_dataset
from cxgrad.data.synthetic import load_synthetic
from cxgrad.data.tieredimagenet import load_tieredimagenet

__all__ = [
    "DATASETS",
    "ClassImages",
    "DataCheck",
    "EpisodeSampler",
    "FewShotDataset",
    "TaskBatch",
    "check_dataset",
    "load_cifarfs",
    "load_cub",
    "load_dataset",
    "load_fashion_mnist",
    "load_miniimagenet",
    "load_omniglot",
    "load_synthetic",
    "load_tieredimagenet",
    "prepare_dataset",
    "resolve_data_root",
]
