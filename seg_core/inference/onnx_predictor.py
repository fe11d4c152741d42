"""A torch-free predictor on ONNX Runtime, for a field laptop without the 5 GB torch install.

    predictor = OnnxPredictor.from_file("model.onnx")   # written by `python -m seg_core export`
    mask = predictor.predict("photo.jpg")                # HxW uint8, same size as the photo

Same contract and outputs as `seg_core.inference.predictor.Predictor` (mask at original size,
confidence, TTA, working mask, notices, timings): the decoding, tiling, blending, TTA and
upsampling are the shared numpy code of `seg_core.inference.tiling`; only the network runs in
ONNX Runtime. This module and everything it imports never import torch (tests/test_onnx.py
runs it with torch blocked), so `requirements-field.txt` is enough to run it.

The exported graph is the bare network (sides divisible by its output stride); the padding that
`PadToMultiple` does in torch is done here in numpy, so the ONNX file takes any height/width.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_core.inference.backend import PredictorBase
from seg_core.inference.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    TTA_TRANSFORMS,
    blend_tiles,
    check_tiling,
    normalise,
    pad_to_multiple,
)
from seg_core.schemes.files import SchemeError, scheme_of_meta

INPUT_NAME = "image"  # N x 3 x H x W float32, normalised; H and W multiples of pad_multiple
OUTPUT_NAME = "logits"  # N x C x H x W float32, C the classes of the model's label scheme
# Every metadata_props value is JSON; these keys must be present for a file to be ours.
REQUIRED_METADATA = (
    "stormseg_format",
    "arch",
    "encoder",
    "num_classes",
    "class_names",
    "resolution",
    "mean",
    "std",
    "pad_multiple",
)
METADATA_FORMAT = 1


class OnnxModelError(ValueError):
    """An ONNX file that cannot be used; the message names the file and the problem."""


def metadata_props(meta: dict) -> dict[str, str]:
    """The checkpoint metadata as ONNX metadata_props (string -> JSON string)."""
    return {key: json.dumps(value) for key, value in meta.items()}


def read_metadata(props: dict[str, str], path: str | Path) -> dict:
    """Decode what `metadata_props` wrote; refuse files that are not StormSeg exports."""
    missing = [key for key in REQUIRED_METADATA if key not in props]
    if missing:
        raise OnnxModelError(
            f"{path}: is not a StormSeg export (its metadata lacks {', '.join(missing)}); "
            "write one with `python -m seg_core export`"
        )
    try:
        meta = {key: json.loads(value) for key, value in props.items()}
    except json.JSONDecodeError as exc:
        raise OnnxModelError(f"{path}: its StormSeg metadata is damaged ({exc})") from None
    if meta["stormseg_format"] != METADATA_FORMAT:
        raise OnnxModelError(
            f"{path}: metadata format {meta['stormseg_format']}; this StormSeg reads format {METADATA_FORMAT}"
        )
    try:
        scheme_of_meta(meta, str(path))  # exports without a scheme are harvey's 25 classes
    except SchemeError as exc:
        raise OnnxModelError(str(exc)) from None
    return meta


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it (onnxruntime-gpu), else the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@dataclass(frozen=True)
class SessionMemory:
    """How ONNX Runtime holds memory; each default measured on its own on a 12 MP photo at
    1024 px (docs/benchmarks-analysis.md section 11, `python bench/field.py --memory-steps`).

    Attributes:
        arena: ONNX Runtime's CPU arena, so activations reuse its blocks; without it they came
            from glibc's heap, whose fragmentation made the peak wander between 660 and 780 MB.
        memory_pattern: one block planned for the whole graph per input shape; it cost ~120 MB
            of peak and no speed here.
        shrink_arena: hand the arena back at the end of each run, so the process holds the model
            and not the last photo's activations between photos.
    """

    arena: bool = True
    memory_pattern: bool = False
    shrink_arena: bool = True


def open_session(
    path: Path,
    providers: list[str] | None,
    threads: int = 0,
    optimise: bool = True,
    memory: SessionMemory = SessionMemory(),
):
    import onnxruntime as ort

    if not path.is_file():
        raise OnnxModelError(f"{path}: no such model file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: shape-inference chatter is not for users
    options.enable_cpu_mem_arena = memory.arena
    options.enable_mem_pattern = memory.memory_pattern
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=providers or default_providers())
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise OnnxModelError(f"{path}: is not a usable ONNX model ({first_line})") from None


def run_options(memory: SessionMemory):
    """RunOptions for each run: release the CPU arena at its end when `memory.shrink_arena`."""
    import onnxruntime as ort

    options = ort.RunOptions()
    if memory.shrink_arena and memory.arena:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def read_model_metadata(path: str | Path) -> dict:
    """The StormSeg metadata of an exported model, without preparing it to run."""
    session = open_session(Path(path), ["CPUExecutionProvider"], threads=1, optimise=False)
    return read_metadata(session.get_modelmeta().custom_metadata_map, path)


class OnnxPredictor(PredictorBase):
    """An exported model ready to segment photos; thread-safe (one prediction at a time).

    Args:
        session: an onnxruntime InferenceSession of a StormSeg export.
        meta: its decoded metadata (`read_metadata`).
        tile, overlap, batch_size: sliding-window settings at working resolution, as in `Predictor`.
        memory: how ONNX Runtime holds memory (`SessionMemory`); the session must be opened with it.
    """

    def __init__(
        self,
        session,
        meta: dict,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        batch_size: int = 4,
        memory: SessionMemory = SessionMemory(),
    ):
        check_tiling(tile, overlap)
        self.session = session
        self.meta = meta
        self.resolution = int(meta["resolution"])
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size
        self.pad_multiple = int(meta["pad_multiple"])
        self.pad_min_size = int(meta.get("pad_min_size", 1))
        self._mean = np.asarray(meta["mean"], dtype=np.float32)
        self._std = np.asarray(meta["std"], dtype=np.float32)
        self._run_options = run_options(memory)
        self._lock = threading.Lock()

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        providers: list[str] | None = None,
        threads: int = 0,
        memory: SessionMemory = SessionMemory(),
        **settings,
    ) -> OnnxPredictor:
        """Open an exported model; `threads` 0 lets ONNX Runtime use every core.

        Raises:
            OnnxModelError: missing, not an ONNX model, or not a StormSeg export.
        """
        session = open_session(Path(path), providers, threads, memory=memory)
        meta = read_metadata(session.get_modelmeta().custom_metadata_map, path)
        return cls(session, meta, memory=memory, **settings)

    @property
    def description(self) -> str:
        precision = ", int8" if self.meta.get("quantized") else ""
        return (
            f"{self.meta['arch']} / {self.meta['encoder']} at {self.resolution} px (ONNX Runtime{precision})"
        )

    def _best(self, scores: np.ndarray, confidence: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Argmax and top score by a running maximum over the classes, one HxW plane at a time:
        `scores.argmax(axis=0)` would first copy the 25 planes into pixel-major order (79 MB
        at 1024x768) and is ~2x slower. Ties go to the lower class id, as with argmax."""
        planes = scores[0]
        best = planes[0].copy()
        working_mask = np.zeros(best.shape, np.uint8)
        better = np.empty(best.shape, bool)
        for class_id in range(1, planes.shape[0]):
            np.greater(planes[class_id], best, out=better)
            np.putmask(working_mask, better, class_id)
            np.maximum(best, planes[class_id], out=best)
        return working_mask, (best if confidence else None)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """NxCxHxW logits of a normalised NCHW float32 batch of any height/width."""
        height, width = batch.shape[-2:]
        padded = pad_to_multiple(batch, self.pad_multiple, self.pad_min_size)
        feed = {INPUT_NAME: np.ascontiguousarray(padded, dtype=np.float32)}
        (out,) = self.session.run([OUTPUT_NAME], feed, self._run_options)
        return out[..., :height, :width]

    def _scores(
        self, pixels: np.ndarray, tta: bool, confidence: bool, progress: Callable[[int, int], None] | None
    ) -> np.ndarray:
        """1xCxHxW scores whose argmax is the prediction: probabilities when they are needed
        (tiles, TTA, confidence), else logits (same argmax, no softmax over 20 M values)."""
        image = normalise(pixels, self._mean, self._std)
        transforms = TTA_TRANSFORMS if tta else TTA_TRANSFORMS[:1]
        as_probabilities = tta or confidence
        total = None
        for done, (k, flip) in enumerate(transforms, start=1):
            view = np.rot90(image, k, axes=(2, 3))
            view = view[..., ::-1] if flip else view
            probs = self._tiled(view, as_probabilities)
            probs = probs[..., ::-1] if flip else probs
            probs = np.rot90(probs, -k, axes=(2, 3))
            total = probs if total is None else total + probs  # never in place: probs may be a view
            if progress:
                progress(done, len(transforms))
        return total / len(transforms) if len(transforms) > 1 else total

    def _tiled(self, image: np.ndarray, as_probabilities: bool) -> np.ndarray:
        """Sliding-window probabilities; one forward when the image fits in a tile."""
        _, _, height, width = image.shape
        if height <= self.tile and width <= self.tile:
            logits = self.logits(image)
            return softmax_(logits) if as_probabilities else logits
        return blend_tiles(
            image,
            lambda batch: softmax_(self.logits(batch)),
            self.scheme.num_classes,
            self.tile,
            self.overlap,
            self.batch_size,
        )


def softmax_(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """`softmax` in place, for logits this predictor owns (ONNX Runtime's fresh output): no
    second 25-class array is made (79 MB at 1024x768)."""
    logits -= logits.max(axis=axis, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=axis, keepdims=True)
    return logits


def open_predictor(path: str | Path, **settings):
    """The right backend for a model file: `.onnx` -> OnnxPredictor (no torch), else the torch
    Predictor of a checkpoint (imported only then)."""
    if Path(path).suffix.lower() == ".onnx":
        return OnnxPredictor.from_file(path, **settings)
    from seg_core.inference.predictor import Predictor

    return Predictor.from_checkpoint(path, **settings)
