"""Shared fixtures: small real data and a quickly trained model."""

from __future__ import annotations

import os

# The suite tests advq's own plugins; installed third-party ones (such as the example
# plugin, which tests/test_example_plugin.py drives in fresh processes) stay out of it.
os.environ.setdefault("ADVQ_LOAD_PLUGINS", "")

import pytest  # noqa: E402
import torch  # noqa: E402

from advq_cli import hookimpl  # noqa: E402
from advq_cli.events import EpochEvent  # noqa: E402
from advq_cli.training import TrainConfig, train  # noqa: E402

torch.set_num_threads(2)

FAST_DIGITS = dict(
    dataset="digits", model="mlp", method="pgd-at", eps=0.1, steps=3, step_size=0.04,
    epochs=3, milestones=[], device="cpu", seed=0,
)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory):
    """A PGD-AT mlp on the embedded digits (a few seconds), shared by the tests that read it."""
    out = tmp_path_factory.mktemp("digits-run") / "run"
    return train(TrainConfig(**FAST_DIGITS, out=out))


class EpochCollector:
    """A logger plugin that keeps every epoch it is told of."""

    def __init__(self) -> None:
        self.events: list[EpochEvent] = []

    @hookimpl
    def advq_on_epoch_end(self, event: EpochEvent) -> None:
        self.events.append(event)
