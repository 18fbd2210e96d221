"""Attacks: each takes [0, 1] images and returns adversarial ones inside the L∞ ε-ball."""

from .base import Attack, build_attack, project_linf
from .pgd import FGSM, PGD, pgd_perturb

__all__ = ["Attack", "FGSM", "PGD", "build_attack", "pgd_perturb", "project_linf"]
