"""`advq curate`: named, reusable subsets from quality ranks, and exports any PyTorch code loads."""

from .config import CurateConfig
from .run import CurateResult, SetSummary, curate, list_subsets
from .sources import MEASURE_DIRECTIONS
from .store import CuratedSet

__all__ = ["MEASURE_DIRECTIONS", "CurateConfig", "CurateResult", "CuratedSet", "SetSummary", "curate", "list_subsets"]
