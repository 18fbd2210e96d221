"""Rich tables for results."""

from __future__ import annotations

from rich.table import Table

from .. import training
from .output import console


def print_training_result(result: training.TrainResult) -> None:
    table = Table(title=f"Training history ({result.out})")
    for column in ("epoch", "lr", "train clean", "train robust", "test clean", "test robust", "seconds"):
        table.add_column(column, justify="right")
    for h in result.history:
        style = "bold green" if h.epoch == result.best_epoch else None
        table.add_row(
            str(h.epoch), f"{h.lr:g}", f"{h.train_clean_acc:.4f}", f"{h.train_robust_acc:.4f}",
            f"{h.test_clean_acc:.4f}", f"{h.test_robust_acc:.4f}", f"{h.seconds:.1f}", style=style,
        )
    console.print(table)
    console.print(
        f"Best epoch {result.best_epoch}: robust test accuracy {result.best_robust_acc:.4f}, "
        f"clean {result.best_clean_acc:.4f} → {result.out / 'best.pt'}",
        highlight=False,
    )
