"""Datasets, bias transforms, splits, and the Pool/Oracle pair."""

from alkit.data.bias import category_mismatch_initial, class_imbalance, long_tail
from alkit.data.datasets import Dataset, dataset_names, load_dataset, read_idx, register_dataset
from alkit.data.pool import Oracle, Pool
from alkit.data.splits import DataSplits, build_splits, stratified_take
from alkit.data.text import TextDataset, Vocabulary, build_vocabulary, tokenize

__all__ = [
    "DataSplits",
    "Dataset",
    "TextDataset",
    "Vocabulary",
    "Oracle",
    "Pool",
    "build_splits",
    "build_vocabulary",
    "category_mismatch_initial",
    "class_imbalance",
    "dataset_names",
    "load_dataset",
    "long_tail",
    "read_idx",
    "register_dataset",
    "stratified_take",
    "tokenize",
]
