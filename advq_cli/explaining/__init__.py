"""`advq explain` as a library: figures, ``report.md`` and ``summary.json`` from stored profiles.

Each subcommand is one function of a small config: ``explain_correlations`` (the
measures against the problem rank), ``explain_consistency`` (rank agreement between runs
or files) and ``explain_examples`` (the lowest- and highest-quality examples per class
with their adversarial counterparts). The appendix-G experiments train and evaluate
their own sub-runs: ``explain_finetune`` (targeted class-pair adversarial fine-tuning)
and ``explain_competing`` (the overestimation gap from competing classes); ``explain_sweep``
(the removal sweep: lowest-quality versus random removal at several fractions).
``explain_report`` gathers a profile into one self-contained HTML page.
"""

from .competing import CompetingConfig, explain_competing
from .consistency import ConsistencyConfig, explain_consistency
from .correlations import CorrelationsConfig, explain_correlations
from .examples import ExamplesConfig, explain_examples
from .finetune import FinetuneConfig, explain_finetune
from .html_report import ReportConfig, ReportResult, explain_report
from .report import ExplainResult
from .sweep import SweepConfig, explain_sweep, resolve_sweep_config

__all__ = [
    "CompetingConfig", "ConsistencyConfig", "CorrelationsConfig", "ExamplesConfig", "ExplainResult",
    "FinetuneConfig", "explain_competing", "explain_consistency", "explain_correlations", "explain_examples",
    "explain_finetune", "ReportConfig", "ReportResult", "explain_report", "SweepConfig", "explain_sweep", "resolve_sweep_config",
]
