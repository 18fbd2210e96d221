"""Training methods: per-example losses plus the adversarial logits profiling records."""

from .base import Method, MethodOutput, build_method

__all__ = ["Method", "MethodOutput", "build_method"]
