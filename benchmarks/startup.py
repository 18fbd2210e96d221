"""How fast `advq` answers when it has no training to do: `advq --help` (and a command's
help, `--version`) against `python -c 'import torch'`, whole process to whole process.

The commands import PyTorch only where work starts, so asking for help should cost a
fraction of one `import torch`. Ratio = advq time / `import torch` time: 0.2 means help
answers in a fifth of the time PyTorch alone takes to import.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys

from common import Side, median_times, print_machine

def no_loop(stdout: str) -> float:
    """These processes have no main loop to time apart from their start."""
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each side; the medians are compared")
    args = parser.parse_args()
    print_machine("cpu")
    advq = [sys.executable, "-m", "advq_cli"]
    sides = {
        "import torch": Side([sys.executable, "-c", "import torch"], no_loop),
        "advq --help": Side([*advq, "--help"], no_loop),
        "advq train --help": Side([*advq, "train", "--help"], no_loop),
        "advq --version": Side([*advq, "--version"], no_loop),
    }
    times = median_times(sides, args.repeats)
    reference = times["import torch"]
    for name, t in times.items():
        print(f"{name:>18}: {t.wall:6.3f} s whole process (CPU {t.cpu:.3f} s)")
    for name, t in times.items():
        if name != "import torch":
            print(f"{name} ratio (advq time / import torch time): {t.wall / reference.wall:.3f} whole process "
                  f"(CPU time {t.cpu / reference.cpu:.3f})")


if __name__ == "__main__":
    main()
