"""Datasets and binarizers for the golden trainers (all offline, from paths the user names)."""

from .binarize import LevelBinarizer, MedianBinarizer, ThermometerBinarizer
from .dataset import Dataset, encode_labels
from .files import (DEFAULT_FASHION, last_window, load_digits, load_fashion_mnist, load_idx_dir,
                    load_mnist_pkl, load_ucr, parse_ts, read_idx)
from .synthetic import random_prototypes

__all__ = ["Dataset", "encode_labels", "LevelBinarizer", "MedianBinarizer", "ThermometerBinarizer", "DEFAULT_FASHION",
           "last_window", "load_digits", "load_fashion_mnist", "load_idx_dir", "load_mnist_pkl",
           "load_ucr", "parse_ts", "read_idx", "random_prototypes"]
