"""Prediction: a checkpoint and a photo in, a class-id mask of the photo's original size out.

    predictor = Predictor.from_checkpoint("checkpoints/demo/best.pt")
    mask = predictor.predict("photo.jpg")            # HxW uint8, same size as the photo

Where the time goes, and why it is small (docs/BENCHMARKS.md has the numbers):
- decode: JPEGs are decoded straight at 1/2..1/8 scale (DCT draft mode), then area-resized to
  the checkpoint's working resolution; the 12-megapixel original is never materialised.
- forward: BatchNorms folded into the convolutions before them, channels_last (oneDNN's fast
  path on CPU, tensor cores on GPU), inference_mode, bf16/fp16 autocast on CUDA only;
  `compile=True` adds torch.compile for long batches; an image larger than a tile is cut
  into overlapping tiles, run in batches and blended with a smooth window so no seams show.
- upsampling: argmax at working resolution, then nearest-neighbour to the original size. The
  full-resolution 25-channel float tensor (1.2 GB for 4000x3000) is never built; boundaries are
  resolved to one working pixel (3.9 px of a 4000 px photo at 1024).

The tiles, blend window, TTA symmetries and upsampling live in the torch-free
`seg_core.inference.tiling`, shared with the ONNX Runtime backend (`onnx_predictor`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from seg_core.core.runtime import amp_dtype, autocast, select_device
from seg_core.inference.backend import PredictorBase
from seg_core.inference.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    TTA_TRANSFORMS,
    Prediction,
    blend_window,
    check_tiling,
    tile_boxes,
    tile_starts,
)
from seg_core.models import create_model
from seg_core.models.checkpoint import CheckpointError, load_checkpoint, model_spec_of
from seg_core.models.fusion import compile_for_inference, fold_batchnorm

# Re-exported: callers import these from here (tests, the Segment page's data).
__all__ = ["DEFAULT_OVERLAP", "DEFAULT_TILE", "TTA_TRANSFORMS", "Prediction", "Predictor", "tile_starts"]


class Predictor(PredictorBase):
    """A loaded model ready to segment photos; thread-safe (one prediction at a time).

    Args:
        model: the network, in eval mode.
        meta: the checkpoint's metadata (resolution, mean, std, class names, ...).
        device: where to run.
        tile, overlap, batch_size: sliding-window settings at working resolution. Smaller
            tiles do not save memory at 1024 px: the blended probability maps they need cost
            more than the activations they spare (1226 vs 1153 MB peak, docs/BENCHMARKS.md).
        fold_norms: merge each BatchNorm into the convolution before it (same outputs, faster;
            see `seg_core.models.fusion`).
        compile: `torch.compile` the network (opt-in: each new input shape compiles for
            15-25 s on 2 CPU cores, then runs ~1.5x faster; pays off over many photos).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        meta: dict,
        device: torch.device,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        batch_size: int = 4,
        fold_norms: bool = True,
        compile: bool = False,
    ):
        check_tiling(tile, overlap)
        # Folded (and checked against the unfolded network) on the CPU, before the move: CUDA runs
        # fp32 convolutions in TF32 on Ampere and newer, whose error alone would exceed the
        # check's tolerance and refuse folding on every load.
        model = fold_batchnorm(model.eval().cpu()) if fold_norms else model.eval()
        model = model.to(device, memory_format=torch.channels_last)
        self.model = compile_for_inference(model) if compile else model
        self.meta = meta
        self.device = device
        self.resolution = int(meta["resolution"])
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size
        self.amp = amp_dtype(device, "auto")
        self._mean = torch.tensor(meta["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(meta["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **settings) -> Predictor:
        """Load a checkpoint safely (weights_only) and rebuild the model from its metadata.

        Raises:
            CheckpointError: unreadable, unsafe, or not matching the architecture it names.
        """
        if Path(path).is_dir():
            found = sorted(p.name for p in Path(path).glob("*.pt"))[:3]
            hint = f" (it holds {', '.join(found)})" if found else ""
            raise CheckpointError(f"{path}: is a folder, not a checkpoint file{hint}; give the .pt file")
        payload = load_checkpoint(path)  # checks that its label scheme fits its outputs
        meta = payload["meta"]
        spec = model_spec_of(payload, path)
        try:
            model = create_model(spec, load_weights=False)
            model.load_state_dict(payload["state_dict"])
        except (ValueError, RuntimeError, KeyError) as exc:
            first_line = str(exc).strip().splitlines()[0][:200]
            raise CheckpointError(
                f"{path}: its weights do not fit a {meta.get('arch')}/{meta.get('encoder')} "
                f"model ({first_line})"
            ) from None
        return cls(model, meta, select_device(device), **settings)

    @property
    def description(self) -> str:
        return f"{self.meta['arch']} / {self.meta['encoder']} at {self.resolution} px"

    def _best(self, scores: torch.Tensor, confidence: bool) -> tuple[np.ndarray, np.ndarray | None]:
        score, working = scores.max(dim=1)
        working_mask = working[0].to(torch.uint8).cpu().numpy()
        return working_mask, (score[0].float().cpu().numpy() if confidence else None)

    @torch.inference_mode()
    def _to_tensor(self, pixels: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 -> normalised 1x3xHxW float32, channels_last (no NCHW copy is made)."""
        if not (pixels.flags.c_contiguous and pixels.flags.writeable):
            pixels = np.array(pixels)  # torch cannot wrap read-only buffers
        tensor = torch.from_numpy(pixels).to(self.device).unsqueeze(0)
        tensor = tensor.permute(0, 3, 1, 2).float()  # a channels_last view of the HWC buffer
        return (tensor - self._mean) / self._std

    @torch.inference_mode()
    def _scores(
        self, pixels: np.ndarray, tta: bool, confidence: bool, progress: Callable[[int, int], None] | None
    ) -> torch.Tensor:
        """1xCxHxW per-class scores at working resolution (channels_last) whose argmax is the
        prediction: probabilities when they are needed (tiles, TTA, confidence), else logits,
        which have the same argmax and skip a softmax over 20 M values."""
        image = self._to_tensor(pixels)
        transforms = TTA_TRANSFORMS if tta else TTA_TRANSFORMS[:1]
        as_probabilities = tta or confidence
        total = None
        for done, (k, flip) in enumerate(transforms, start=1):
            view = torch.rot90(image, k, dims=(2, 3))
            view = torch.flip(view, dims=(3,)) if flip else view
            probs = self._tiled(view, as_probabilities)
            probs = torch.flip(probs, dims=(3,)) if flip else probs
            probs = torch.rot90(probs, -k, dims=(2, 3))
            total = probs if total is None else total + probs
            if progress:
                progress(done, len(transforms))
        return total / len(transforms) if len(transforms) > 1 else total

    def _forward(self, batch: torch.Tensor, as_probabilities: bool = True) -> torch.Tensor:
        with autocast(self.device, self.amp):
            logits = self.model(batch.contiguous(memory_format=torch.channels_last))
        return torch.softmax(logits.float(), dim=1) if as_probabilities else logits.float()

    def _tiled(self, image: torch.Tensor, as_probabilities: bool) -> torch.Tensor:
        """Sliding-window probabilities; one forward when the image fits in a tile."""
        _, _, height, width = image.shape
        if height <= self.tile and width <= self.tile:
            return self._forward(image, as_probabilities)  # what blending one tile gives, sooner
        return self._blend_tiles(image)

    def _blend_tiles(self, image: torch.Tensor) -> torch.Tensor:
        """Probabilities of overlapping tiles, run in batches and averaged with `blend_window`."""
        _, _, height, width = image.shape
        tile_h, tile_w, boxes = tile_boxes(height, width, self.tile, self.overlap)
        window = torch.from_numpy(blend_window(tile_h, tile_w)).to(self.device)
        total = torch.zeros(1, self.scheme.num_classes, height, width, device=self.device)
        weight = torch.zeros(1, 1, height, width, device=self.device)
        for first in range(0, len(boxes), self.batch_size):
            chunk = boxes[first : first + self.batch_size]
            batch = torch.cat([image[:, :, y : y + tile_h, x : x + tile_w] for y, x in chunk])
            probs = self._forward(batch)
            for (y, x), tile_probs in zip(chunk, probs, strict=True):
                total[0, :, y : y + tile_h, x : x + tile_w] += tile_probs * window
                weight[0, 0, y : y + tile_h, x : x + tile_w] += window
        return (total / weight).contiguous(memory_format=torch.channels_last)
