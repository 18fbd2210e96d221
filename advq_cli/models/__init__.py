"""Model factories; every model is wrapped so it takes [0, 1] pixels."""

from .normalized import NormalizedModel

__all__ = ["NormalizedModel"]
