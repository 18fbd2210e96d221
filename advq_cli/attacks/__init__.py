"""Attacks: each takes [0, 1] images and returns adversarial ones inside the L∞ ε-ball."""

from .autoattack import AutoAttack
from .base import Attack, project_linf
from .pgd import FGSM, PGD, pgd_perturb
from .queries import QueryBudget
from .rays import RayS
from .square import Square
from .transfer import Transfer

__all__ = [
    "Attack", "AutoAttack", "FGSM", "PGD", "QueryBudget", "RayS", "Square", "Transfer",
    "pgd_perturb", "project_linf",
]
