"""`advq curate`: named, reusable subsets from quality ranks, and exports any PyTorch code loads."""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "CurateConfig": ".config",
    "CurateResult": ".run",
    "SetSummary": ".run",
    "curate": ".run",
    "list_subsets": ".run",
    "MEASURE_DIRECTIONS": ".sources",
    "CuratedSet": ".store",
})
