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

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "CompetingConfig": ".competing_config",
    "explain_competing": ".competing",
    "ConsistencyConfig": ".consistency",
    "explain_consistency": ".consistency",
    "CorrelationsConfig": ".correlations",
    "explain_correlations": ".correlations",
    "ExamplesConfig": ".examples",
    "explain_examples": ".examples",
    "FinetuneConfig": ".finetune",
    "explain_finetune": ".finetune",
    "ExplainResult": ".report",
    "ReportConfig": ".html_report",
    "ReportResult": ".html_report",
    "explain_report": ".html_report",
    "SweepConfig": ".sweep_config",
    "explain_sweep": ".sweep",
    "resolve_sweep_config": ".sweep_config",
})
