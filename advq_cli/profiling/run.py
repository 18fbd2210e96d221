"""`advq profile`: R adversarial trainings, recorded per example and epoch, then measured.

Crash safety: the HDF5 file is the record. After every epoch the epoch's row and the
run's progress go into it through ``h5store.updating`` (a copy replaced atomically), and
only then does the run write its checkpoint ``<out>.runs/<run_id>/last.pt``. So the
checkpoint is never ahead of the file: a resume restores ``last.pt`` and re-runs any
epoch the file holds beyond it (overwriting that row with the identical result, since
each epoch re-seeds from (seed, epoch)). A run becomes ``complete`` in the same atomic
update that stores its measures and recomputes ``/quality``.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..checkpoint import load_model
from ..config import to_plain
from ..datasets import DatasetBundle, get_dataset
from ..errors import AdvqError
from ..h5store import updating
from ..progress import NullReporter, Reporter
from ..training.loop import TrainingRun, check_same_config
from .config import PROFILE_RESUMABLE_DIFFERENCES, ProfileConfig
from .measures import RunRecord, compute_measures
from .ranks import normalised_rank
from .recorder import EpochRecorder
from .store import (
    PROBLEM_RANK, ProfileState, RunState, checkpoints_dir, create_profile, finish_run, read_record, read_state,
    run_id_for, run_state, set_config, start_run, update_quality, write_epoch,
)


@dataclass
class ProfileResult:
    """What a profile holds after ``profile`` returns."""

    out: Path
    checkpoints: Path
    runs: list[RunState] = field(default_factory=list)
    quality: dict[str, float] = field(default_factory=dict)
    """The mean over the profiled examples of each ``/quality`` array."""
    quality_runs: int = 0


def profile(config: ProfileConfig, reporter: Reporter | None = None, bundle: DatasetBundle | None = None) -> ProfileResult:
    """Train ``config.repeats`` runs (seeds ``seed``..``seed + repeats - 1``), recording every
    example under the training attack each epoch, and write the profile to ``config.out``.

    With ``config.resume`` an existing file is continued (or extended to more repeats);
    its stored configuration must match except for repeats, device, out and data location.
    """
    reporter = reporter or NullReporter()
    out = Path(config.out)
    _check_out(out, config)
    bundle = bundle or get_dataset(config.dataset, config.data_dir, config.download)
    existing = _prepare(out, config, bundle, reporter)
    if existing is None:
        create_profile(out, bundle, config)
        if config.overwrite and checkpoints_dir(out).is_dir():
            shutil.rmtree(checkpoints_dir(out))
    else:
        stored_repeats = max(config.repeats, int(existing.config.get("repeats", 0) or 0))
        with updating(out) as handle:
            set_config(handle, dataclasses.replace(config, repeats=stored_repeats))
    seeds = config.seeds()
    done = [s for s in seeds if existing is not None and _is_complete(existing, s)]
    if existing is not None:
        reporter.info(f"Resuming {out}: {len(done)} of {len(seeds)} runs complete.")
    reporter.start("runs", f"profiling {len(seeds)} runs", len(seeds))
    reporter.advance("runs", len(done))
    for k, seed in enumerate(seeds):
        if seed in done:
            continue
        previous = existing.runs.get(run_id_for(seed)) if existing is not None else None
        _profile_run(config, bundle, out, k, seed, previous, reporter)
        reporter.advance("runs", 1)
    reporter.finish("runs")
    return read_result(out)


def _is_complete(state: ProfileState, seed: int) -> bool:
    run = state.runs.get(run_id_for(seed))
    return run is not None and run.complete


def _check_out(out: Path, config: ProfileConfig) -> None:
    """Refuse a folder, or an existing file without --resume or --overwrite (before any loading)."""
    if out.is_dir():
        raise AdvqError(f"--out {out} is a folder: give the path of the profile's .h5 file.")
    if out.exists() and not (config.resume or config.overwrite):
        raise AdvqError(f"{out} already exists: pass --resume to continue it or --overwrite to replace it.")


def _prepare(out: Path, config: ProfileConfig, bundle: DatasetBundle, reporter: Reporter) -> ProfileState | None:
    """The existing profile to continue, or None to start a new file (``_check_out`` ran first)."""
    if not out.exists():
        if config.resume:
            reporter.info(f"{out} does not exist yet: starting a new profile.")
        return None
    if config.resume:
        state = read_state(out, bundle.fingerprint)
        drop = PROFILE_RESUMABLE_DIFFERENCES
        check_same_config(
            {k: v for k, v in state.config.items() if k not in drop},
            {k: v for k, v in to_plain(config).items() if k not in drop},
            out,
        )
        return state
    return None  # --overwrite


def _profile_run(
    config: ProfileConfig, bundle: DatasetBundle, out: Path, k: int, seed: int, previous: RunState | None,
    reporter: Reporter,
) -> None:
    run_id = run_id_for(seed)
    run_dir = checkpoints_dir(out) / run_id
    run = TrainingRun(config.run_config(seed, run_dir), bundle)
    n = bundle.n_train
    epochs = config.epochs
    if previous is not None and previous.epochs_done > 0:
        _restore(run, run_dir, previous, out)
        reporter.info(f"Run {k + 1}/{config.repeats} (seed {seed}): resuming after epoch {run.epochs_done}.")
    else:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        with updating(out) as handle:
            start_run(handle, run_id, run.config, n, len(run.train_indices), _relative(run_dir, out))

    recorder = EpochRecorder(n, run.device)
    reporter.start("epochs", f"run {k + 1}/{config.repeats} (seed {seed})", epochs)
    reporter.advance("epochs", run.epochs_done)
    while run.epochs_done < epochs:
        recorder.reset()
        stats = run.run_epoch(recorder, reporter)
        correct, true_prob = recorder.to_host()
        with updating(out) as handle:
            write_epoch(
                handle, run_id, stats.epoch, correct, true_prob,
                best_epoch=run.best_epoch, best_robust_acc=run.best_robust_acc, best_clean_acc=run.best_clean_acc,
                train_robust_acc=stats.train_robust_acc,
            )
        run.save(run_dir)
        reporter.advance(
            "epochs", 1, epoch=f"{stats.epoch}/{epochs}", robust_acc=stats.train_robust_acc,
            s_per_epoch=f"{stats.seconds:.1f}",
        )
    reporter.finish("epochs")

    reporter.start("measures", f"measures, run {k + 1}/{config.repeats}", 1)
    record = _run_record(config, bundle, out, run, run_id, run_dir)
    measures = compute_measures(record)
    measures[PROBLEM_RANK] = normalised_rank(np.nan_to_num(measures["instability"]), record.trained)
    with updating(out) as handle:
        finish_run(handle, run_id, measures)
        update_quality(handle)
    reporter.advance("measures", 1)
    reporter.finish("measures")


def _restore(run: TrainingRun, run_dir: Path, previous: RunState, out: Path) -> None:
    if not (run_dir / "last.pt").is_file():
        raise AdvqError(
            f"Cannot resume run {previous.run_id} of {out}: its checkpoint {run_dir / 'last.pt'} is missing "
            f"(pass --overwrite to start the profile again)."
        )
    run.restore(run_dir)
    if run.epochs_done > previous.epochs_done:
        raise AdvqError(
            f"Cannot resume run {previous.run_id} of {out}: its checkpoint is at epoch {run.epochs_done} but the "
            f"file records only {previous.epochs_done} epochs (the checkpoint folder belongs to another profile?)."
        )


def _run_record(
    config: ProfileConfig, bundle: DatasetBundle, out: Path, run: TrainingRun, run_id: str, run_dir: Path
) -> RunRecord:
    with h5py.File(out, "r") as handle:
        correct, true_prob = read_record(handle, run_id)
    trained = np.zeros(bundle.n_train, dtype=bool)
    trained[run.train_indices] = True
    return RunRecord(
        correct=correct,
        true_prob=true_prob,
        best_epoch=run.best_epoch,
        trained=trained,
        labels=bundle.train_labels.numpy(),
        run_id=run_id,
        seed=run.config.seed,
        options=config.measure_options(),
        device=run.device,
        batch_size=4 * config.batch_size,
        model_loader=lambda: load_model(run_dir / "best.pt", run.device),
        images_loader=lambda: run.images,
    )


def _relative(path: Path, out: Path) -> str:
    """``path`` relative to the profile file's folder, as stored in the run's attrs."""
    try:
        return str(path.relative_to(out.parent))
    except ValueError:
        return str(path)


def read_result(out: str | Path) -> ProfileResult:
    """The summary of a profile file: its runs in seed order and the mean of each quality array."""
    out = Path(out)
    with h5py.File(out, "r") as handle:
        runs = sorted((run_state(rid, g) for rid, g in handle.get("runs", {}).items()), key=lambda r: r.seed)
        quality = handle.get("quality")
        means: dict[str, float] = {}
        n_runs = 0
        if quality is not None:
            n_runs = int(quality.attrs.get("n_runs", 0))
            for name, data in quality.items():
                values = data[()]
                finite = values[~np.isnan(values)]
                means[name] = float(finite.mean()) if finite.size else float("nan")
    return ProfileResult(out, checkpoints_dir(out), runs, means, n_runs)
