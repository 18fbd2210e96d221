"""Model factories; every model is wrapped so it takes [0, 1] pixels."""

from .normalized import NormalizedModel, build_model

__all__ = ["NormalizedModel", "build_model"]
