"""The plain PyTorch PGD-AT loop that `train_speed.py` holds `advq train` against.

What a typical research script does: the training images as floats in a TensorDataset, a
shuffling DataLoader, a hand-written PGD with a random start (model in eval mode during
the attack, as advq does), SGD with momentum and weight decay and a step schedule, the
weights saved at the end, no evaluation. Per batch it tracks what advq's history records:
the loss, robust accuracy, and clean accuracy from a forward pass after the step (as
advq does, and as Rice et al.'s `train_cifar.py`, the base of the paper's setup, does).
The model comes from advq's `build_model`, so the architecture is identical; nothing else
of advq runs inside the loop. Runnable on its own:

    python benchmarks/reference_train.py --dataset fashion-mnist --model mlp --n-train 3000 \
        --epochs 6 --steps 5 --eps 0.1 --step-size 0.025 --device cpu
"""

from __future__ import annotations

import argparse
import gzip
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)


def load_training_images(dataset: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, C, H, W) images and int64 labels of the training split, in canonical order.

    Fashion-MNIST is read the plain way (gzip and numpy); any other dataset through
    advq's public loader, the same one an outside tool would use.
    """
    if dataset == "fashion-mnist":
        folder = Path(data_dir) if data_dir else FASHION_MNIST_DIR
        images = _read_idx(folder / "train-images-idx3-ubyte.gz", header=16).reshape(-1, 1, 28, 28)
        labels = _read_idx(folder / "train-labels-idx1-ubyte.gz", header=8).astype(np.int64)
        return images, labels
    from advq_cli import load_dataset

    images, labels = load_dataset(dataset, train=True, data_dir=data_dir)
    return images.numpy(), labels.numpy()


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=header)


def pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step_size: float, steps: int) -> torch.Tensor:
    """L∞ PGD on the cross-entropy from a uniform random start."""
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + step_size * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def main() -> None:
    args = parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    images, labels = load_training_images(args.dataset, args.data_dir)
    images, labels = images[: args.n_train].copy(), labels[: args.n_train].copy()
    x_all = torch.from_numpy(images).float().div(255)
    dataset = TensorDataset(x_all, torch.from_numpy(labels))
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, pin_memory=device.type == "cuda")

    from advq_cli.lookups import build_model

    if args.dataset == "fashion-mnist":
        mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
    else:
        mean, std = x_all.mean(dim=(0, 2, 3)).tolist(), x_all.std(dim=(0, 2, 3)).tolist()
    model = build_model(args.model, int(labels.max()) + 1, images.shape[1], images.shape[-1], mean, std).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    milestones = [int(m) for m in args.milestones.split(",") if m]
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss = train_clean = train_robust = 0.0
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            model.eval()
            x_adv = pgd(model, x, y, args.eps, args.step_size, args.steps)
            model.train()
            logits = model(x_adv)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                clean_logits = model(x)
            model.train()
            train_loss += loss.item() * len(y)
            train_clean += (clean_logits.argmax(1) == y).sum().item()
            train_robust += (logits.argmax(1) == y).sum().item()
        scheduler.step()
        n = len(dataset)
        print(f"epoch {epoch}: loss {train_loss / n:.4f}, clean accuracy {train_clean / n:.4f}, "
              f"robust accuracy {train_robust / n:.4f} ({time.perf_counter() - started:.3f} s)", flush=True)
    if args.out:
        torch.save(model.state_dict(), args.out)


def fraction(text: str) -> float:
    return float(Fraction(text))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--milestones", default="", help="comma-separated epochs where the learning rate drops ×0.1")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--eps", type=fraction, default=0.1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step-size", type=fraction, default=0.025)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default=None, help="where to save the final weights (optional)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
