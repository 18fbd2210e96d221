"""`advq explain` as a library: figures, ``report.md`` and ``summary.json`` from stored profiles.

Each subcommand is one function of a small config: ``explain_correlations`` (the
measures against the problem rank), ``explain_consistency`` (rank agreement between runs
or files) and ``explain_examples`` (the lowest- and highest-quality examples per class
with their adversarial counterparts).
"""

from .consistency import ConsistencyConfig, explain_consistency
from .correlations import CorrelationsConfig, explain_correlations
from .examples import ExamplesConfig, explain_examples
from .report import ExplainResult

__all__ = [
    "ConsistencyConfig", "CorrelationsConfig", "ExamplesConfig", "ExplainResult", "explain_consistency",
    "explain_correlations", "explain_examples",
]
