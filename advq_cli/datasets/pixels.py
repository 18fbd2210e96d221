"""Images of one's own data to uint8 (C, H, W) arrays of one shape, or one line naming a bad image.

Without options every image must already have the first image's size and mode (``L``
greyscale or ``RGB``); ``image-size`` resizes with PIL's bilinear filter (antialiased
when shrinking, what torchvision's ``Resize`` uses) and ``channels`` converts with PIL's
``convert("L")`` (ITU-R 601-2 luma) or ``convert("RGB")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image

from ..errors import AdvqError

MODES = frozenset({"L", "RGB"})
CHANNEL_MODES = {1: "L", 3: "RGB"}
FIX_HINT = "pass --image-size H[,W] to resize and --channels 1|3 to convert"

T = TypeVar("T")


@dataclass(frozen=True)
class ImageShape:
    """What every image is made into: ``size`` (height, width) and ``channels``, None = as found."""

    size: tuple[int, int] | None = None
    channels: int | None = None

    @classmethod
    def from_options(cls, options: dict[str, str], dataset: str) -> ImageShape:
        return cls(_parse_size(options.get("image-size"), dataset), _parse_channels(options.get("channels"), dataset))

    def options(self) -> dict[str, str]:
        """The canonical ``image-size``/``channels`` options (square sizes as one number)."""
        found: dict[str, str] = {}
        if self.size is not None:
            height, width = self.size
            found["image-size"] = str(height) if height == width else f"{height},{width}"
        if self.channels is not None:
            found["channels"] = str(self.channels)
        return found

    def apply(self, image: Image.Image, source: str) -> np.ndarray:
        """One image as uint8 (C, H, W) after converting and resizing as asked."""
        if self.channels is not None and image.mode != CHANNEL_MODES[self.channels]:
            image = image.convert(CHANNEL_MODES[self.channels])
        if image.mode not in MODES:
            raise AdvqError(f"{source}: mode {image.mode}, not greyscale (L) or RGB; pass --channels 1|3 to convert.")
        if self.size is not None and image.size != self.size[::-1]:
            image = image.resize(self.size[::-1], Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _parse_size(value: str | None, dataset: str) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = value.replace("x", ",").split(",")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise AdvqError(f"Dataset '{dataset}': --image-size must be H or H,W in pixels, got '{value}'.")
    return (sides[0], sides[-1])


def _parse_channels(value: str | None, dataset: str) -> int | None:
    if value is None:
        return None
    if value not in ("1", "3"):
        raise AdvqError(f"Dataset '{dataset}': --channels must be 1 (greyscale) or 3 (RGB), got '{value}'.")
    return int(value)


def stack_images(items: Sequence[T], load: Callable[[T], np.ndarray], name_of: Callable[[T], str]) -> np.ndarray:
    """uint8 (N, C, H, W) from ``load(item)`` in threads (PIL releases the GIL while decoding).

    Every image must have the first one's shape; the first that differs is named.
    """
    pool = ThreadPoolExecutor()
    try:
        arrays: Iterable[np.ndarray] = pool.map(load, items)
        stacked = np.empty(0, dtype=np.uint8)
        for index, (item, pixels) in enumerate(zip(items, arrays)):
            if index == 0:
                stacked = np.empty((len(items), *pixels.shape), dtype=np.uint8)
            elif pixels.shape != stacked.shape[1:]:
                raise AdvqError(
                    f"{name_of(item)}: {describe(pixels.shape)}, but {name_of(items[0])} is "
                    f"{describe(stacked.shape[1:])}; {FIX_HINT}."
                )
            stacked[index] = pixels
    finally:
        pool.shutdown(cancel_futures=True)
    return stacked


def describe(shape: tuple[int, ...]) -> str:
    """``32×32 RGB``: an image's size and mode from its (C, H, W) shape."""
    channels, height, width = shape
    return f"{width}×{height} {'RGB' if channels == 3 else 'greyscale' if channels == 1 else f'{channels}-channel'}"


def open_image(path: str, opener: Callable[[], Image.Image]) -> Image.Image:
    """A decoded PIL image; a file PIL cannot read is one line naming it."""
    try:
        image = opener()
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise AdvqError(f"{path}: not a readable image ({error}).") from error
    return image
