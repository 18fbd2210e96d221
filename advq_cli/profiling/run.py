"""`advq profile`: R adversarial trainings, recorded per example and epoch, then measured.

Crash safety: the HDF5 file and the run's row files are the record. After every epoch
the epoch's row and the run's progress go to a row file of their own beside the run
(``epoch_rows``; written atomically, its cost one epoch, not the whole file), and only
then does the run write its checkpoint ``<out>.runs/<run_id>/last.pt``. So the
checkpoint is never ahead of the record: a resume first folds the row files into the
file, restores ``last.pt`` and re-runs any epoch recorded beyond it (rewriting that row
with the identical result, since each epoch re-seeds from (seed, epoch)). When its last
epoch is done a run's rows are folded into the file in one atomic update; it becomes
``complete`` in the next, which stores its measures and recomputes ``/quality``.

Runs executed outside this process (``--parallel K``, ``--executor ray``; see
``executors``) keep the same order of writes in their own run file
``<out>.runs/<run_id>/record.h5``; once one is complete, the driver copies it into the
profile and recomputes ``/quality`` in one atomic update, then removes the run file. A
resume continues each run from whichever of the two files holds more of it.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from ..checkpoint import load_model
from ..config import to_plain
from ..datasets import DatasetBundle
from ..lookups import get_dataset
from ..devices import resolve_device
from ..errors import AdvqError
from ..h5store import updating
from ..locking import exclusive
from ..lookups import build_method
from ..lookups import build_model
from ..progress import NullReporter, Reporter
from ..curation.training_subset import load_subset
from ..training.distributed import World
from ..training.loop import EpochStats, TrainingRun, check_same_config, run_epochs
from ..training.together import train_together, why_not_together
from .config import PROFILE_RESUMABLE_DIFFERENCES, ProfileConfig
from .executors import RunGroup, RunJob, make_executor
from .measures import RunRecord, compute_measures
from .ranks import normalised_rank
from .recorder import EpochRecorder
from .store import (
    PROBLEM_RANK, ProfileState, RunState, checkpoints_dir, copy_run, create_profile, finish_run, read_record,
    quality_arrays, read_state, run_checkpoints, run_file_for, run_id_for, run_state, set_config, start_run,
    update_quality,
)
from .epoch_rows import append_epoch, fold_epochs


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
    its stored configuration must match except for repeats, device, out, data location and
    how runs are executed (``config.executor``: sequential, parallel processes or Ray).
    """
    reporter = reporter or NullReporter()
    with exclusive(config.out, wait=config.wait, reporter=reporter):  # the lock covers <out>.runs too
        return _profile_locked(config, reporter, bundle)


def _profile_locked(config: ProfileConfig, reporter: Reporter, bundle: DatasetBundle | None) -> ProfileResult:
    """``profile`` once this process alone writes ``config.out``."""
    out = Path(config.out)
    _check_out(out, config)
    executor = make_executor(config)
    bundle = bundle or get_dataset(config.dataset, config.data_dir, config.download)
    existing = _prepare(out, config, bundle, reporter)
    _check_inputs(config, bundle, executor.in_process)
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
    jobs = []
    for k, seed in enumerate(seeds):
        if seed in done:
            continue
        job = _plan(config, bundle, out, k, seed, existing, executor.in_process)
        if job is None:
            reporter.info(f"Run {k + 1}/{config.repeats} (seed {seed}) finished; merged into {out}.")
            reporter.advance("runs", 1)
        else:
            jobs.append(job)

    def finished(group: RunGroup) -> None:
        for job in group.jobs:
            if job.record != out:
                _merge(job.record, out, run_id_for(job.seed))
                reporter.info(f"Run {job.k + 1}/{config.repeats} (seed {job.seed}) finished; merged into {out}.")
            reporter.advance("runs", 1)

    size = _group_size(config, len(jobs), reporter)
    groups = [RunGroup(tuple(jobs[i : i + size])) for i in range(0, len(jobs), size)]
    work = (lambda group: _profile_group(group, bundle, reporter)) if executor.in_process else run_detached
    executor.run(groups, work, finished)
    reporter.finish("runs")
    return read_result(out)


def _plan(
    config: ProfileConfig, bundle: DatasetBundle, out: Path, k: int, seed: int, existing: ProfileState | None,
    in_process: bool,
) -> RunJob | None:
    """The job that finishes run k, writing into the profile (in process) or its run file.

    When resuming, the run's row files are folded into the further advanced of its two
    records, which is then copied to where the job writes (a profile begun sequentially
    may be resumed in parallel, and back). A run file already complete is merged here, and
    there is no job (None).
    """
    run_id = run_id_for(seed)
    run_file = run_file_for(out, seed)
    in_profile = existing.runs.get(run_id) if existing is not None else None
    in_run_file = None
    if existing is not None and run_file.is_file():
        in_run_file = read_state(run_file, bundle.fingerprint).runs.get(run_id)
    if in_run_file is not None and in_run_file.complete:
        _merge(run_file, out, run_id)
        return None
    record, previous, source, other = (
        (out, in_profile, run_file, in_run_file) if in_process else (run_file, in_run_file, out, in_profile)
    )
    # the run's row files continue the further advanced of its records (both are alike when level)
    if other is not None and _done(other) > _done(previous):
        other = fold_epochs(source, run_id, checkpoints_dir(out) / run_id)
    elif previous is not None:
        previous = fold_epochs(record, run_id, checkpoints_dir(out) / run_id)
    if other is not None and other.epochs_done > (previous.epochs_done if previous is not None else 0):
        copy_run(source, record, run_id, quality=False)
        previous = other
    if in_process:
        run_file.unlink(missing_ok=True)
    return RunJob(config, out, record, k, seed, previous, torch.get_num_threads(), bundle.fingerprint)


def _done(state: RunState | None) -> int:
    return state.epochs_done if state is not None else -1


def _merge(run_file: Path, out: Path, run_id: str) -> None:
    """A complete run file into the profile with ``/quality`` recomputed (one atomic update), then gone."""
    copy_run(run_file, out, run_id, quality=True)
    run_file.unlink()


def _group_size(config: ProfileConfig, n_jobs: int, reporter: Reporter) -> int:
    """How many runs train together: ``--runs-together``, at most the runs left, and 1 (said in
    one line) where runs cannot be stacked."""
    size = min(config.runs_together, n_jobs)
    if size <= 1:
        return 1
    method = build_method(config.method, config.threat, **config.method_kwargs())
    reason = why_not_together(config, method, World.from_environment().distributed)
    if reason is None:
        return size
    reporter.info(f"--runs-together {config.runs_together}: {reason}; the runs train one at a time.")
    return 1


def run_detached(group: RunGroup) -> None:
    """A group of runs in a worker process or a Ray task: everything goes to the runs' own files.

    It uses the driver's CPU thread count, so its arithmetic is the sequential run's.
    """
    first = group.jobs[0]
    torch.set_num_threads(first.threads)
    config = first.config
    bundle = get_dataset(config.dataset, config.data_dir, download=False)
    if bundle.fingerprint != first.fingerprint:
        raise AdvqError(
            f"Dataset {config.dataset} where run seed-{first.seed} executes differs from the driver's "
            f"(fingerprint {bundle.fingerprint}, not {first.fingerprint})."
        )
    _profile_group(group, bundle, NullReporter())


def _is_complete(state: ProfileState, seed: int) -> bool:
    run = state.runs.get(run_id_for(seed))
    return run is not None and run.complete


def _check_out(out: Path, config: ProfileConfig) -> None:
    """Refuse a folder, or an existing file without --resume or --overwrite (before any loading)."""
    if out.is_dir():
        raise AdvqError(f"--out {out} is a folder: give the path of the profile's .h5 file.")
    if out.exists() and not (config.resume or config.overwrite):
        raise AdvqError(f"{out} already exists: pass --resume to continue it or --overwrite to replace it.")


def _check_inputs(config: ProfileConfig, bundle: DatasetBundle, in_process: bool) -> None:
    """Refuse a bad model, method, subset or device before anything is written, so the file
    (or the one --overwrite would replace) is untouched. The model is built on the CPU and
    the device checked only where this process trains: a Ray driver may have no GPU."""
    if config.subset:
        load_subset(config.subset, bundle)
    build_model(config.model, bundle.num_classes, bundle.in_channels, bundle.image_size, bundle.mean, bundle.std,
                **config.model_kwargs())
    build_method(config.method, config.threat, **config.method_kwargs())
    if in_process:
        resolve_device(config.device)


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


def _profile_group(group: RunGroup, bundle: DatasetBundle, reporter: Reporter) -> None:
    """Train, record and measure a group's runs: one alone, or several together in one pass.

    Runs of a group killed at different epochs are resumed by training the ones behind
    alone up to the furthest, then all together.
    """
    profiled: list[ProfiledRun] = []
    for job in group.jobs:
        p = ProfiledRun(job, bundle, reporter)
        if profiled:  # one copy of the data on the device: at most two while the group is built
            p.run.use_data_of(profiled[0].run)
        profiled.append(p)
    if len(profiled) == 1:
        only = profiled[0]
        run_epochs(only.run, "profile", only.job.out, only.record, reporter, only.label, only.recorder)
    else:
        furthest = max(p.run.epochs_done for p in profiled)
        for p in profiled:
            if p.run.epochs_done < furthest:
                run_epochs(p.run, "profile", p.job.out, p.record, reporter, f"{p.label}, catching up", p.recorder,
                           until=furthest)
        first, last = group.jobs[0], group.jobs[-1]
        label = f"runs {first.k + 1}–{last.k + 1}/{first.config.repeats} (seeds {first.seed}–{last.seed}) together"
        train_together([p.run for p in profiled], "profile", first.out, [p.record for p in profiled], reporter, label,
                       [p.recorder for p in profiled])
    for p in profiled:
        p.measure(reporter)


class ProfiledRun:
    """One run of the profile: its training run, started or restored, and its record file."""

    def __init__(self, job: RunJob, bundle: DatasetBundle, reporter: Reporter) -> None:
        config, out, record_file, k, seed, previous = job.config, job.out, job.record, job.k, job.seed, job.previous
        self.job, self.bundle, self.record_file = job, bundle, record_file
        self.own_file = record_file != out
        self.run_id = run_id = run_id_for(seed)
        self.run_dir = run_dir = checkpoints_dir(out) / run_id
        self.run = run = TrainingRun(config.run_config(seed, run_dir), bundle)
        self.label = f"run {k + 1}/{config.repeats} (seed {seed})"
        n = bundle.n_train
        if previous is not None and _has_checkpoint_or_more_epochs(previous, out):
            _restore(run, run_dir, previous, out)
            reporter.info(f"Run {k + 1}/{config.repeats} (seed {seed}): resuming after epoch {run.epochs_done}.")
        else:
            if run_dir.exists():
                shutil.rmtree(run_dir)
            if self.own_file:
                create_profile(record_file, bundle, config)
            with updating(record_file) as handle:
                start_run(handle, run_id, run.config, n, len(run.train_indices), _relative(run_dir, out))
        self.recorder = EpochRecorder(n, run.device)

    def record(self, stats: EpochStats) -> None:
        """The epoch's rows to their row file, then the checkpoint: the record is never behind last.pt."""
        run = self.run
        correct, true_prob = self.recorder.take()
        append_epoch(
            self.run_dir, stats.epoch, correct, true_prob,
            best_epoch=run.best_epoch, best_robust_acc=run.best_robust_acc, best_clean_acc=run.best_clean_acc,
            train_robust_acc=stats.train_robust_acc,
        )
        run.save(self.run_dir)

    def measure(self, reporter: Reporter) -> None:
        """The run's rows folded into its record, then its measures, which mark it complete (and
        update ``/quality`` in the profile)."""
        fold_epochs(self.record_file, self.run_id, self.run_dir)
        config, k = self.job.config, self.job.k
        reporter.start("measures", f"measures, run {k + 1}/{config.repeats}", 1)
        run_record = _run_record(config, self.bundle, self.record_file, self.run, self.run_id, self.run_dir)
        measures = compute_measures(run_record)
        measures[PROBLEM_RANK] = normalised_rank(np.nan_to_num(measures["instability"]), run_record.trained)
        with updating(self.record_file) as handle:
            finish_run(handle, self.run_id, measures)
            if not self.own_file:
                update_quality(handle)
        reporter.advance("measures", 1)
        reporter.finish("measures")


def _has_checkpoint_or_more_epochs(previous: RunState, out: Path) -> bool:
    """Whether a run continues where it stopped. One killed between its first epoch's record and its
    first checkpoint has only epoch 1 to lose and starts again (a missing checkpoint is an error later)."""
    if previous.epochs_done == 0:
        return False
    saved = run_checkpoints(out, previous.run_id, previous.checkpoints) / "last.pt"
    return previous.epochs_done > 1 or saved.is_file()


def _restore(run: TrainingRun, run_dir: Path, previous: RunState, out: Path) -> None:
    if not (run_dir / "last.pt").is_file():
        recorded = run_checkpoints(out, previous.run_id, previous.checkpoints)
        if recorded != run_dir and (recorded / "last.pt").is_file():
            raise AdvqError(
                f"Cannot resume run {previous.run_id} of {out}: its checkpoints are in {recorded.parent}, the folder of "
                f"the profile's earlier name; a profile moves with its folder: rename {recorded.parent} to "
                f"{run_dir.parent} (or copy it there) and resume again."
            )
        raise AdvqError(
            f"Cannot resume run {previous.run_id} of {out}: its checkpoint {run_dir / 'last.pt'} is missing "
            f"(pass --overwrite to start the profile again)."
        )
    run.restore(run_dir)
    if run.epochs_done > previous.epochs_done:
        # Every epoch is recorded in the file before its checkpoint is written, and no other process
        # writes the profile while this one holds its lock: the file itself is older than its folder.
        raise AdvqError(
            f"Cannot resume run {previous.run_id} of {out}: its checkpoint {run_dir / 'last.pt'} is at epoch "
            f"{run.epochs_done} but {out.name} records only {previous.epochs_done}, so {out.name} is an older copy "
            f"than its {run_dir.parent.name} folder (restored or copied back after the run went on); resume with the "
            f"{out.name} that was written with that folder, or pass --overwrite to profile again."
        )


def _run_record(
    config: ProfileConfig, bundle: DatasetBundle, record: Path, run: TrainingRun, run_id: str, run_dir: Path
) -> RunRecord:
    with h5py.File(record, "r") as handle:
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
        n_runs = int(handle["quality"].attrs.get("n_runs", 0)) if "quality" in handle else 0
        means: dict[str, float] = {}
        for name, values in quality_arrays(handle).items():
            finite = values[~np.isnan(values)]
            means[name] = float(finite.mean()) if finite.size else float("nan")
    return ProfileResult(out, checkpoints_dir(out), runs, means, n_runs)
