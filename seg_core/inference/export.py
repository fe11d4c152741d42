"""Checkpoint -> ONNX file for the torch-free `OnnxPredictor`, verified before it is kept.

    report = export_onnx("checkpoints/demo/best.pt", "model.onnx")

What is exported: the bare network (`PadToMultiple.model`) with the TorchScript exporter
(`dynamo=False`: it handles smp/timm models as they are, with batch, height and width as dynamic
axes); `OnnxPredictor` pads to the encoder's stride in numpy. The checkpoint's metadata (classes,
colours, mean/std, working resolution, training GSD, versions, weights checksum, run id,
metrics) goes into the file's metadata_props, one JSON value per key.

Verification, on the sample photos (or synthetic scenes when there are none): each photo at the
working resolution, and once cropped to sides that are not multiples of the stride (the dynamic
axes and the numpy padding), runs through the checkpoint's torch model and the ONNX file. The
export is kept only when the largest logit difference is within `logit_tolerance` and the argmax
agrees on at least `min_argmax_agreement` of the pixels; otherwise it is deleted and
`ExportError` says by how much it missed. The file is written beside its target and renamed
into place, so a crash never leaves a half-written model under the final name.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from seg_core.core import paths
from seg_core.demo.synth import generate_scene
from seg_core.imagery.gsd import CHECKPOINT_GSD_KEY
from seg_core.imagery.imageio import IMAGE_SUFFIXES, load_rgb
from seg_core.inference.onnx_predictor import (
    INPUT_NAME,
    METADATA_FORMAT,
    OUTPUT_NAME,
    OnnxPredictor,
    metadata_props,
)
from seg_core.inference.predictor import Predictor
from seg_core.inference.tiling import normalise
from seg_core.schemes.files import META_KEY
from seg_core.schemes.scheme import LabelScheme

SAMPLES_DIR = paths.REPO_ROOT / "samples"


class ExportError(ValueError):
    """An export that failed its verification; the message says what differed and by how much."""


@dataclass(frozen=True)
class ExportSettings:
    """How to export and what the export must reproduce.

    Attributes:
        opset: ONNX opset; 17 is the newest every onnxruntime >= 1.14 runs, field installs included.
        logit_tolerance: largest |torch - ONNX| logit difference accepted. float32 kernels that
            sum in another order differ by ~1e-4 (measured 9e-5..1.3e-4 on the demo model); a
            wrong graph differs by O(1).
        min_argmax_agreement: share of pixels whose class must agree (the issue's 99.9%).
        crop: px cut from the bottom/right of each photo in the second check, so its sides are
            not multiples of the stride (exercises the dynamic axes and the numpy padding).
    """

    opset: int = 17
    logit_tolerance: float = 1e-3
    min_argmax_agreement: float = 0.999
    crop: tuple[int, int] = (13, 7)

    def __post_init__(self) -> None:
        if not 13 <= self.opset <= 21:
            raise ValueError(f"opset {self.opset} is outside the supported 13..21")
        if not self.logit_tolerance > 0:
            raise ValueError(f"logit_tolerance {self.logit_tolerance} must be positive")
        if not 0 < self.min_argmax_agreement <= 1:
            raise ValueError(f"min_argmax_agreement {self.min_argmax_agreement} must be in (0, 1]")


@dataclass(frozen=True)
class ExportReport:
    path: str
    size_bytes: int
    photos: int
    max_logit_difference: float
    argmax_agreement: float
    logit_tolerance: float
    min_argmax_agreement: float
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def onnx_metadata(meta: dict, scheme: LabelScheme, multiple: int, min_size: int) -> dict:
    """What an exported file carries: the checkpoint's metadata (its label scheme written out, for
    checkpoints that record none) plus what the ONNX path needs."""
    config = meta.get("config") or {}
    return {
        "stormseg_format": METADATA_FORMAT,
        **{key: value for key, value in meta.items() if key != "config"},
        META_KEY: scheme.to_dict(),
        "class_names": list(scheme.names),
        "class_colours": [c.hex for c in scheme.classes],
        # The working GSD of the training photos in cm/px (seg_core.imagery.gsd), when recorded.
        "training_gsd_cm": meta.get(CHECKPOINT_GSD_KEY),
        "pad_multiple": multiple,
        "pad_min_size": min_size,
        "config": config,
    }


def verification_photos(folder: Path | None = None, synthetic: int = 3) -> list[np.ndarray]:
    """Full-size RGB photos to verify on: `folder`'s (default: the shipped samples), else scenes."""
    folder = folder or SAMPLES_DIR
    files = (
        sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    )
    if files:
        return [load_rgb(p).pixels for p in files]
    rng = np.random.default_rng(0)
    return [generate_scene(640, 480, rng)[0] for _ in range(synthetic)]


def compare(predictor: Predictor, onnx: OnnxPredictor, photos: list[np.ndarray], crop: tuple[int, int]):
    """(largest logit difference, argmax agreement) of torch vs ONNX over `photos`, each at the
    working resolution and cropped by `crop` px."""
    worst, agree, total = 0.0, 0, 0
    model = predictor.model
    mean, std = np.asarray(predictor.meta["mean"], np.float32), np.asarray(predictor.meta["std"], np.float32)
    for photo in photos:
        pixels = load_rgb(photo, long_side=predictor.resolution).pixels
        cropped = pixels[: pixels.shape[0] - crop[0], : pixels.shape[1] - crop[1]]
        for view in (pixels, cropped):
            batch = normalise(view, mean, std)
            with torch.inference_mode():
                expected = model(torch.from_numpy(batch)).float().numpy()
            got = onnx.logits(batch)
            worst = max(worst, float(np.abs(got - expected).max()))
            agree += int((got.argmax(1) == expected.argmax(1)).sum())
            total += expected.shape[0] * expected.shape[2] * expected.shape[3]
    return worst, agree / total


def _write_onnx(network: torch.nn.Module, target: Path, metadata: dict, opset: int, size: int) -> None:
    import onnx

    example = torch.zeros(1, 3, size, size)
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice and the tracer's "treated as a constant"
        # remarks on shape arithmetic are not for users: the verification below is what counts.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            network,
            (example,),
            str(target),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
        )
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, metadata_props(metadata))
    onnx.save(model, str(target))


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    settings: ExportSettings | None = None,
    photos_folder: Path | None = None,
) -> ExportReport:
    """Export `checkpoint` to `out`, verify it against torch, keep it only if it matches.

    Raises:
        CheckpointError: the checkpoint is unusable.
        ExportError: the ONNX model's outputs differ from torch's beyond the settings.
        OSError: `out` cannot be written (nothing is left behind).
    """
    settings = settings or ExportSettings()
    start = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out {out} must name a .onnx file")
    out.parent.mkdir(parents=True, exist_ok=True)
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu", fold_norms=False)
    wrapper = predictor.model  # PadToMultiple: its padding is redone in numpy by OnnxPredictor
    metadata = onnx_metadata(predictor.meta, predictor.scheme, wrapper.multiple, wrapper.min_size)
    partial = out.with_name(out.name + ".partial")
    try:
        _write_onnx(wrapper.model, partial, metadata, settings.opset, predictor.resolution // 2)
        onnx_predictor = OnnxPredictor.from_file(partial, providers=["CPUExecutionProvider"])
        photos = verification_photos(photos_folder)
        worst, agreement = compare(predictor, onnx_predictor, photos, settings.crop)
        if worst > settings.logit_tolerance or agreement < settings.min_argmax_agreement:
            raise ExportError(
                f"{out}: not written: the ONNX model differs from the checkpoint {checkpoint} on "
                f"{len(photos)} photo(s): largest logit difference {worst:.2e} (allowed "
                f"{settings.logit_tolerance:.0e}), argmax agreement {agreement:.4%} (needed "
                f"{settings.min_argmax_agreement:.1%})"
            )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return ExportReport(
        str(out),
        out.stat().st_size,
        len(photos),
        worst,
        agreement,
        settings.logit_tolerance,
        settings.min_argmax_agreement,
        time.perf_counter() - start,
    )
