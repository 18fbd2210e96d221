"""Training methods: per-example losses plus the adversarial logits profiling records."""

from .base import Method, MethodOutput

__all__ = ["Method", "MethodOutput"]
