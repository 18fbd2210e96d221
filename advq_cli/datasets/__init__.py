"""Datasets as uint8 tensors in canonical order, loaded through the dataset plugins."""

from .bundle import DatasetBundle, fingerprint_of, get_dataset, load_dataset
from .spec import DatasetSpec, configured_dataset_name, parse_dataset_name

__all__ = [
    "DatasetBundle", "DatasetSpec", "configured_dataset_name", "fingerprint_of", "get_dataset", "load_dataset",
    "parse_dataset_name",
]
