"""Datasets as uint8 tensors in canonical order, loaded through the dataset plugins."""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "DatasetBundle": ".bundle",
    "fingerprint_of": ".bundle",
    "DatasetSpec": ".spec",
    "configured_dataset_name": ".spec",
    "parse_dataset_name": ".spec",
})
