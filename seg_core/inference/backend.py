"""What every predictor backend shares (torch in `predictor`, ONNX Runtime in `onnx_predictor`):
the contract methods, decoding, timing, upsampling and the familiarity check, written once.

Torch-free: the ONNX Runtime path imports this. A backend supplies `_scores` (per-class scores
at working resolution for one photo) and `_best` (their argmax and, when asked, the top score as
numpy arrays); `meta`, `resolution`, `tile` and `_lock` are set by its constructor. The photo path
(`predict_full`) and the orthomosaic path (`predict_working`) are both written here, so either
backend runs `predict`, `evaluate` and `map`. `scheme` is the label scheme of the model's outputs
(`seg_core.schemes`), read from its metadata: every figure, colour and table downstream uses it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property

import numpy as np

from seg_core.analytics.familiarity import Familiarity, familiarity_of
from seg_core.analytics.uncertainty import PhotoUncertainty
from seg_core.imagery.imageio import ImageSource, check_image_source, load_rgb
from seg_core.inference.tiling import Prediction, to_original_size
from seg_core.schemes.files import scheme_of_meta
from seg_core.schemes.scheme import LabelScheme


class PredictorBase:
    """The Predictor contract: `predict(image) -> HxW uint8 mask` of the original size."""

    meta: dict
    resolution: int
    tile: int  # working px per sliding-window tile; the mosaic path caps its windows at it
    _lock: threading.Lock

    @cached_property
    def scheme(self) -> LabelScheme:
        """What the mask ids this model predicts stand for (harvey for models that record none);
        checked when the model was loaded."""
        return scheme_of_meta(self.meta, self.description)

    @property
    def description(self) -> str:
        return "the model"

    def familiarity(self, prediction: Prediction) -> tuple[PhotoUncertainty, Familiarity]:
        """The photo's uncertainty and how far it lies outside this model's own validation
        photos (`seg_core.analytics.familiarity`); "unavailable" for models without a
        reference. Needs a prediction made with `confidence=True`.

        Raises:
            ValueError: the prediction has no confidence map.
        """
        return familiarity_of(prediction.mask, prediction.confidence, self.meta)

    def predict(self, image: ImageSource, tta: bool = False, name: str | None = None) -> np.ndarray:
        """Contract: HxW uint8 class-id mask of the original image size."""
        return self.predict_full(image, tta=tta, name=name).mask

    def predict_full(
        self,
        image: ImageSource,
        tta: bool = False,
        confidence: bool = False,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Prediction:
        """Decode, segment and upsample one photo; see `Prediction` for what comes back.

        Raises:
            ImageReadError: the input is not a usable image (the message names it).
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        check_image_source(image, name)
        loaded = load_rgb(image, long_side=self.resolution, name=name)
        timings["decode"] = time.perf_counter() - start
        with self._lock:  # one photo at a time per model: the app's sessions share it
            start = time.perf_counter()
            scores = self._scores(loaded.pixels, tta, confidence, progress)
            timings["forward"] = time.perf_counter() - start
        start = time.perf_counter()
        working_mask, score_map = self._best(scores, confidence)
        mask, conf = to_original_size(working_mask, score_map, loaded.original_size)
        timings["upsample"] = time.perf_counter() - start
        return Prediction(mask, working_mask, conf, loaded.notices, timings)

    def predict_working(self, pixels: np.ndarray) -> np.ndarray:
        """HxW uint8 class ids of an HxWx3 uint8 image already at the working GSD, not resized
        (the orthomosaic path resamples its windows itself; `seg_core.gis.mosaic`)."""
        with self._lock:
            scores = self._scores(pixels, False, False, None)
            working_mask, _ = self._best(scores, False)
        return working_mask

    def _scores(self, pixels: np.ndarray, tta: bool, confidence: bool, progress):
        raise NotImplementedError

    def _best(self, scores, confidence: bool) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError
