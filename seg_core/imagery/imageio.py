"""Reading photos and masks safely: a content-based format allowlist, a pixel cap checked before
decoding, EXIF orientation, every Pillow mode turned into RGB, and errors that name the file.

Following Pillow's security guidance: the format is detected from the file's bytes (a `.jpg`
that is really HTML or EPS is refused), PostScript/EPS is never opened, the decompression-bomb
warning is an error, and a truncated file is reported as damaged rather than half-decoded
(`ImageFile.LOAD_TRUNCATED_IMAGES` is never switched on).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats we decode, detected by content. Pillow's JPEG opener also yields MPO, the
# multi-picture JPEG some drones write.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
IMAGE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".webp", ".bmp")
# The largest Harvey photo is 4592x3072 (14.1 MP); 40 MP leaves room for bigger drones while
# refusing decompression bombs long before Pillow's own 179 MP limit.
MAX_PIXELS = 40_000_000
# What Pillow raises on cut-off or mangled files besides OSError (found by fuzzing): a TIFF with
# a broken directory raises TypeError from `n_frames`, PNG's `getexif()` decodes the whole image
# (its eXIf chunk may follow the pixels), and a PNG text chunk that inflates past Pillow's limit
# raises ValueError from `Image.open`.
DECODE_ERRORS = (OSError, ValueError, TypeError, SyntaxError, EOFError, IndexError, struct.error)

ImageSource = str | Path | BinaryIO | bytes | Image.Image | np.ndarray


class ImageReadError(ValueError):
    """A file that is not a usable image; the message names the file and the problem."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded photo.

    Attributes:
        pixels: HxWx3 uint8 RGB at the requested long side (or original size).
        original_size: (width, height) of the photo as displayed (EXIF orientation applied).
        notices: things the user should know that are not errors (e.g. extra TIFF pages).
    """

    pixels: np.ndarray
    original_size: tuple[int, int]
    notices: tuple[str, ...] = ()


def describe_source(source: ImageSource, name: str | None = None) -> str:
    if name:
        return name
    if isinstance(source, str | Path):
        return str(source)
    return getattr(source, "name", None) or "the uploaded image"


def open_checked(source: ImageSource, name: str | None = None) -> Image.Image:
    """Open an image lazily (header only) after the allowlist and pixel-cap checks.

    Raises:
        ImageReadError: empty, not an allowed format, too large, or unreadable.
    """
    label = describe_source(source, name)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(f"{label}: file not found")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{label}: the file is empty")
    start = 0 if isinstance(source, str | Path) else source.tell()  # Pillow reads from here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        if _starts_like_an_image(source, start):
            raise ImageReadError(
                f"{label}: the file is damaged (it starts like an image but cannot be read)"
            ) from None
        raise ImageReadError(
            f"{label}: not a supported image (allowed: JPEG, PNG, TIFF, WebP, BMP; "
            "the format is judged by the file's content, not its name)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(f"{label}: the image claims too many pixels to be a photo") from None
    except DECODE_ERRORS as exc:
        problem = "is damaged" if _starts_like_an_image(source, start) else "could not be read"
        raise ImageReadError(f"{label}: the file {problem} ({exc})") from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        image.close()
        raise ImageReadError(
            f"{label}: {width}x{height} px is over StormSeg's limit of {MAX_PIXELS / 1e6:.0f} megapixels"
        )
    return image


# Leading bytes of the allowed formats: a file that starts like one but will not open is damaged.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM")


def _starts_like_an_image(source, start: int = 0) -> bool:
    """Whether the bytes at `start` (where the file begins in a stream) are an allowed format's magic."""
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as handle:
                head = handle.read(16)
        else:
            position = source.tell()  # a failed Image.open leaves the stream anywhere
            source.seek(start)
            head = source.read(16)
            source.seek(position)
    except (OSError, AttributeError, ValueError):
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header without decoding."""
    orientation = image.getexif().get(0x0112, 1)
    width, height = image.size
    if image.format == "TIFF":
        # Pillow 13 reports a TIFF's size already turned by its orientation (and turns the pixels
        # while loading); the directory's own width and height are the stored ones on every version.
        width, height = image.tag_v2.get(256, width), image.tag_v2.get(257, height)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def scaled_size(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """Size with the long side brought down to `long_side`; never upscales."""
    width, height = size
    if long_side is None or max(width, height) <= long_side:
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def load_rgb(source: ImageSource, long_side: int | None = None, name: str | None = None) -> LoadedImage:
    """Decode a photo to RGB uint8, EXIF-oriented, resized (area) so its long side <= long_side.

    Args:
        source: a path, bytes, binary file, PIL image or HxWx3 / HxW uint8 array.
        long_side: working resolution; None keeps the original size.
        name: how to name the source in error messages (e.g. an upload's file name).

    Raises:
        ImageReadError: the source is not a usable image.
    """
    label = describe_source(source, name)
    if isinstance(source, np.ndarray):
        return _from_array(source, long_side, label)
    image = source if isinstance(source, Image.Image) else open_checked(source, name)
    notices: list[str] = []
    original = target = None  # unknown until the header parses (a damaged TIFF may not)
    try:
        if getattr(image, "n_frames", 1) > 1 and image.format == "TIFF":
            notices.append(f"{label}: has {image.n_frames} pages; only the first was used")
        original = displayed_size(image)
        target = scaled_size(original, long_side)
        if image.format in ("JPEG", "MPO"):
            # DCT-domain downscaling by 1/2..1/8 while decoding: far cheaper than a full decode.
            draft_size = target if original == image.size else (target[1], target[0])
            image.draft("RGB", draft_size)
        image.load()
        image = ImageOps.exif_transpose(image)
        rgb = to_rgb(image)
    except DECODE_ERRORS as exc:
        if image.format != "TIFF":
            raise ImageReadError(f"{label}: the file is damaged ({exc})") from None
        # Valid TIFFs Pillow has no decoder for (16-bit planar single band as GDAL writes it,
        # LERC, ...) were reported as damaged: GDAL reads them (seg_core.imagery.raster).
        rgb = _tiff_via_gdal(source, label)
        if target is None:
            original = rgb.size
            target = scaled_size(original, long_side)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.BOX)
    return LoadedImage(np.asarray(rgb, dtype=np.uint8), original, tuple(notices))


def _tiff_via_gdal(source: ImageSource, label: str) -> Image.Image:
    """RGB of a TIFF Pillow could not decode, read with GDAL; the header cap is already checked."""
    from seg_core.imagery.raster import MosaicError, decode_tiff

    try:
        if isinstance(source, str | Path):
            data = Path(source).read_bytes()
        elif isinstance(source, bytes):
            data = source
        else:
            source.seek(0)
            data = source.read()
        values = decode_tiff(data, label)
    except (MosaicError, OSError, AttributeError) as exc:
        raise ImageReadError(
            str(exc) if isinstance(exc, MosaicError) else f"{label}: the file is damaged"
        ) from None
    if values.ndim == 3:
        values = values[..., :3] if values.shape[2] >= 3 else values[..., 0]
    if values.dtype != np.uint8:  # the same scaling `to_rgb` gives Pillow's 16-bit and float grey
        top = 65535.0 if values.dtype == np.uint16 else max(float(np.nanmax(values)), 1.0)
        values = np.clip(np.nan_to_num(values.astype(np.float64)) / top * 255.0 + 0.5, 0, 255).astype(
            np.uint8
        )
    return Image.fromarray(values).convert("RGB")


def _from_array(array: np.ndarray, long_side: int | None, label: str) -> LoadedImage:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
        raise ImageReadError(f"{label}: expected an HxWx3 uint8 array, got {array.shape} {array.dtype}")
    height, width = array.shape[:2]
    if width * height > MAX_PIXELS:
        raise ImageReadError(f"{label}: {width}x{height} px is over the {MAX_PIXELS / 1e6:.0f} MP limit")
    rgb = np.ascontiguousarray(array[..., :3])
    target = scaled_size((width, height), long_side)
    if target != (width, height):
        rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.Resampling.BOX))
    return LoadedImage(rgb, (width, height))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB without clipping or losing visible content.

    16/32-bit grey is scaled to 0..255 (not clipped); palette images with transparency and
    RGBA/LA are composited onto black, the colour StormSeg treats as background.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a class-id mask PNG as HxW uint8 (palette PNGs keep their indices).

    Args:
        path: the mask file.
        size: optional (width, height) to resize to with nearest-neighbour sampling.

    Raises:
        ImageReadError: unreadable, damaged, multi-channel, or values above 255.
    """
    image = open_checked(path)
    try:
        image.load()
    except DECODE_ERRORS as exc:
        raise ImageReadError(f"{path}: the file is damaged ({exc})") from None
    if image.mode in ("L", "P"):
        mask = np.array(image, dtype=np.uint8)  # a writable copy (np.asarray of PIL is read-only)
    elif image.mode in ("I", "I;16", "I;16B", "I;16L"):
        values = np.asarray(image)
        if values.max(initial=0) > 255 or values.min(initial=0) < 0:
            raise ImageReadError(f"{path}: mask values reach {int(values.max())}; class ids must be 0..24")
        mask = values.astype(np.uint8)
    else:
        raise ImageReadError(
            f"{path}: a mask must be a single-channel PNG of class ids, not mode {image.mode}"
        )
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        mask = np.array(Image.fromarray(mask).resize(tuple(size), Image.Resampling.NEAREST))
    return mask


def check_image_source(image: object, name: str | None = None) -> None:
    """Refuse what is not a photo before decoding, naming what was given (a ValueError, like
    every other bad photo, rather than an AttributeError from deep inside Pillow).

    Raises:
        ImageReadError: None or another type, or an array that is not HxW / HxWx3 / HxWx4 uint8.
    """
    label = name or "the image"
    if isinstance(image, np.ndarray):
        shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
        if not shape_ok or image.dtype != np.uint8:
            raise ImageReadError(
                f"{label}: expected an HxW or HxWx3 uint8 array, got shape {image.shape} {image.dtype}"
            )
    elif not isinstance(image, str | Path | bytes | Image.Image) and not hasattr(image, "read"):
        raise ImageReadError(
            f"{label}: expected a path, bytes, a binary file, a PIL image or an HxWx3 uint8 array, "
            f"got {type(image).__name__}"
        )
