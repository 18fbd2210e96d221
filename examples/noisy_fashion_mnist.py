"""Write Fashion-MNIST as an npz dataset with a seeded fraction of training labels flipped.

    python examples/noisy_fashion_mnist.py --kind symmetric --fraction 0.2 --seed 0 --out noisy-sym20.npz
    advq profile --dataset npz:noisy-sym20.npz --model mlp …

A known set of wrong labels to look for: does advq's problem rank put the flipped
examples at the bottom? ``symmetric`` gives each chosen example one of the nine other
classes at random; ``asymmetric`` flips the chosen examples of five classes to the class
they are most often confused with (``ASYMMETRIC``), the usual class-dependent noise of
the label-noise literature. The test split stays clean. Besides advq's four arrays and
``classes`` the file holds ``y_train_clean`` (the true labels) and ``flipped`` (bool per
training example), which advq ignores and a detection benchmark scores against.
Fashion-MNIST comes from /usr/share/datasets/fashion-mnist (Debian's
``dataset-fashion-mnist``), ``--data-dir``, or wherever ``advq`` finds it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from advq_cli import get_dataset
from advq_cli.errors import AdvqError

# T-shirt/top → Shirt, Pullover → Coat, Coat → Pullover, Sandal → Sneaker, Ankle boot → Sneaker.
ASYMMETRIC = {0: 6, 2: 4, 4: 2, 5: 7, 9: 7}
KINDS = ("symmetric", "asymmetric")


def flip_labels(labels: np.ndarray, kind: str, fraction: float, seed: int, num_classes: int) -> np.ndarray:
    """New labels: ``fraction`` of the candidates (every example, or those of ASYMMETRIC's classes) flipped."""
    rng = np.random.default_rng(seed)
    candidates = np.arange(len(labels)) if kind == "symmetric" else np.flatnonzero(np.isin(labels, list(ASYMMETRIC)))
    chosen = rng.choice(candidates, size=round(fraction * len(candidates)), replace=False)
    noisy = labels.copy()
    if kind == "symmetric":
        # An offset of 1..K-1 classes: uniform over the other classes, never the true one.
        noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=chosen.size)) % num_classes
    else:
        noisy[chosen] = [ASYMMETRIC[int(label)] for label in labels[chosen]]
    return noisy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, default="symmetric")
    parser.add_argument("--fraction", type=float, default=0.2, help="of all examples (symmetric) or of the flipped classes' examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--data-dir", help="where Fashion-MNIST's idx files are (default: where advq looks)")
    args = parser.parse_args(argv)
    if not 0 < args.fraction < 1:
        parser.error(f"--fraction must be in (0, 1), got {args.fraction}")
    if args.out.suffix != ".npz":
        parser.error(f"--out must name an .npz file, got {args.out}")
    try:
        data = get_dataset("fashion-mnist", args.data_dir)
    except AdvqError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    clean = data.train_labels.numpy()
    noisy = flip_labels(clean, args.kind, args.fraction, args.seed, data.num_classes)
    np.savez_compressed(
        args.out,
        x_train=data.train_images.numpy()[:, 0], y_train=noisy,
        x_test=data.test_images.numpy()[:, 0], y_test=data.test_labels.numpy(),
        classes=np.array(data.classes), y_train_clean=clean, flipped=noisy != clean,
    )
    print(f"{args.out}: {int((noisy != clean).sum())} of {len(clean)} training labels flipped ({args.kind}, seed {args.seed}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
