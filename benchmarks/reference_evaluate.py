"""The plain evaluation script that `evaluate_speed.py` holds `advq evaluate` against.

What a typical research script does with a trained model: the first N test images as
floats in a TensorDataset, a DataLoader, clean accuracy, then the attack library called
directly — torchattacks' PGD (10 steps of ε/4 from a random start, as advq's pgd-10) or
the reference AutoAttack (pyautoattack, version "standard"). The model and the test set
come through advq's public API (`load_model`, `load_dataset`), as any outside tool would
get them. Prints the accuracies and the attack's seconds. Runnable on its own:

    python benchmarks/reference_evaluate.py CHECKPOINT --attack pgd-10 --n-examples 500 --device cpu
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from advq_cli import load_dataset, load_model
from advq_cli.checkpoint import read_checkpoint


def attack_for(name: str, model: torch.nn.Module, eps: float):
    """``x_adv = attack(x, y)`` from the library itself."""
    if name == "pgd-10":
        import torchattacks

        return torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=True)
    if name == "autoattack":
        from pyautoattack import AutoAttack

        adversary = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=0, device=next(model.parameters()).device)
        return lambda x, y: adversary.run_standard_evaluation(x, y, batch_size=len(x))[0]
    raise SystemExit(f"unknown attack {name}: pgd-10 or autoattack")


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    payload = read_checkpoint(args.checkpoint)
    config = payload["config"]
    eps = float(config["eps"])
    model = load_model(args.checkpoint, device)
    images, labels = load_dataset(config["dataset"], train=False, data_dir=config.get("data_dir"))
    dataset = TensorDataset(images[: args.n_examples].float().div(255), labels[: args.n_examples])
    loader = DataLoader(dataset, batch_size=args.batch_size, pin_memory=device.type == "cuda")
    attack = attack_for(args.attack, model, eps)
    clean = robust = 0
    attack_seconds = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            clean += (model(x).argmax(1) == y).sum().item()
        started = time.perf_counter()
        x_adv = attack(x, y)
        with torch.no_grad():
            robust += (model(x_adv).argmax(1) == y).sum().item()
        attack_seconds += time.perf_counter() - started
    n = len(dataset)
    print(f"clean accuracy {clean / n:.4f}, {args.attack} accuracy {robust / n:.4f}")
    print(f"attack seconds: {attack_seconds:.3f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--attack", default="pgd-10", choices=("pgd-10", "autoattack"))
    parser.add_argument("--n-examples", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args()


if __name__ == "__main__":
    main()
