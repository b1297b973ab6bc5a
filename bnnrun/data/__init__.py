"""Data: what a run fits, as arrays. Loaders for scikit-learn's generators and bundled sets, and
for IDX image files (MNIST, Fashion-MNIST)."""

from __future__ import annotations

from bnnrun.data.dataset import Dataset
from bnnrun.data.load import LOADERS, load_dataset

__all__ = ["LOADERS", "Dataset", "load_dataset"]
