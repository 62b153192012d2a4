"""A train/test split with labels 0..C-1."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import require


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            require(len(x) == len(y), f"{self.name}: {part} split has {len(x)} inputs but {len(y)} labels")
            if len(y):
                require(int(np.min(y)) >= 0 and int(np.max(y)) < self.classes,
                        f"{self.name}: {part} labels must lie in 0..{self.classes - 1}")
        require(len(self.y_train) >= 1, f"{self.name}: the training split is empty")


def encode_labels(y_train, y_test):
    """Map arbitrary label values to 0..C-1 (sorted order of the training labels)."""
    classes = np.unique(y_train)
    unknown = np.setdiff1d(np.unique(y_test), classes)
    require(unknown.size == 0, f"test labels {unknown[:5].tolist()} do not occur in the training set")
    return np.searchsorted(classes, y_train), np.searchsorted(classes, y_test), classes
