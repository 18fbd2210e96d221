"""Datasets as uint8 tensors in canonical order, loaded through the dataset plugins."""

from .bundle import DatasetBundle, fingerprint_of, get_dataset, load_dataset

__all__ = ["DatasetBundle", "fingerprint_of", "get_dataset", "load_dataset"]
