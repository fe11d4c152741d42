"""Builders of hostile inputs shared by the reliability tests (imported as `from hostile import ...`).

Every builder is deterministic: the same call gives the same bytes, so a failure reproduces.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from helpers import Pointwise
from PIL import Image

from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES

# --- images ---------------------------------------------------------------------------------------


def encoded(image: Image.Image | np.ndarray, fmt: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header claims width x height RGB pixels (a decompression bomb header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 16x16 baseline JPEG with its frame header (SOF0) patched to claim width x height."""
    data = bytearray(encoded(Image.new("RGB", (16, 16), (90, 120, 60)), "JPEG"))
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A hand-built little-endian greyscale TIFF whose directory claims width x height pixels."""
    n_entries = 9
    data_offset = 8 + 2 + 12 * n_entries + 4
    entries = [  # (tag, type: 3 SHORT / 4 LONG, count, value)
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 1, data_offset),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 64),  # StripByteCounts
    ]
    ifd = struct.pack("<H", n_entries) + b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\0" * 64


CLAIMING = {"png": png_claiming, "jpg": jpeg_claiming, "tif": tiff_claiming}


def png_with_text_bomb() -> bytes:
    """A valid 8x8 PNG carrying a 48 KB zTXt chunk that inflates to 50 MB (Pillow stops at 1 MB)."""
    png = encoded(Image.new("RGB", (8, 8)), "PNG")
    text = png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"\0" * 50_000_000, 9))
    end_of_ihdr = 8 + 25
    return png[:end_of_ihdr] + text + png[end_of_ihdr:]


def non_images() -> dict[str, bytes]:
    """Files that are not photos, by kind: what a user might upload or drop into a dataset folder."""
    small = Image.new("RGB", (8, 8), (200, 30, 30))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("photo.jpg", b"not really")
    return {
        "empty": b"",
        "one-byte": b"\xff",
        "random": np.random.default_rng(7).bytes(4096),
        "text": b"flight log 2017-08-27 12:00 battery 80%\n" * 20,
        "html": b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
        "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "eps": encoded(small, "EPS"),  # real PostScript: Pillow would hand it to Ghostscript
        "pdf": encoded(small, "PDF"),
        "gif": encoded(small, "GIF"),  # a real image, but not an allowed format
        "zip": archive.getvalue(),
    }


def truncated(fmt: str, keep: float = 0.5, **options) -> bytes:
    """A real 96x64 photo in `fmt` with its end cut off (a download that stopped halfway)."""
    data = encoded(photo(96, 64, seed=3), fmt, **options)
    return data[: int(len(data) * keep)]


# --- models -----------------------------------------------------------------------------------------


def tiny_meta(**changes) -> dict:
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
    }
    meta.update(changes)
    return meta


def tiny_unet(num_classes: int = 25) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = ModelSpec(arch="unet", weights="none", unet_base_width=4, num_classes=num_classes)
    return create_model(spec, load_weights=False)


def save_tiny_checkpoint(path: Path, **meta_changes) -> Path:
    return save_checkpoint({"state_dict": tiny_unet().state_dict(), "meta": tiny_meta(**meta_changes)}, path)


def pointwise_predictor(resolution: int = 256) -> Predictor:
    return Predictor(Pointwise(), tiny_meta(resolution=resolution), torch.device("cpu"))
