"""The memory one training step needs, estimated before the run starts, so that a batch of crops
the machine cannot hold costs a sentence at Start instead of a run the system kills mid-epoch.

A step holds the network's weights, their gradients and the optimiser's moments, plus the
activations autograd keeps for the backward pass. Those grow with the pixels in the batch (a
convolution network's feature maps are fixed fractions of its input) and with the classes (the
logits and the loss's probabilities). So the probe runs the network and the run's loss on two
tiny inputs (2 x 64 px and 2 x 128 px), counts the bytes autograd saves through
`torch.autograd.graph.saved_tensors_hooks`, and draws the straight line through the two: the
step's floor. The network runs on PyTorch's meta device (shapes without data: the same counts,
0.1-0.7 CPU s for the networks measured, where computing took up to 7 s on a cold CPU), the loss on real
logits of the network's output shape (its masked means need data); a network that cannot run
on the meta device is probed on the CPU. A whole training process peaks above the floor (the
backward pass's temporaries, the heap that `core.memory.reuse_freed_memory` keeps): its likely
peak is measured, not derived (docs/benchmarks-analysis.md, section 26).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from seg_core.models import ModelSpec, create_model

PROBE_SIDES = (64, 128)  # multiples of 32 every architecture takes; the line through them
PROBE_BATCH = 2  # BatchNorm in a pooling branch (DeepLabV3, PSPNet) needs 2 images in train mode
# A training process's peak over the floor, chosen on the default network at four crop sizes and
# whole photos, and checked on six other networks (bench/step_memory.py, section 26).
HEADROOM = 1.57
PROCESS_BYTES = 770_000_000  # Python, torch, the engine and the default network before the first step


@dataclass(frozen=True)
class StepMemory:
    """What one training step of a network holds, in bytes.

    Attributes:
        per_pixel: activations saved for the backward pass per input pixel (all images).
        fixed: activations that do not grow with the input (pooled branches), per probe batch.
        parameters: the weights, their gradients and the optimiser's moments.
    """

    per_pixel: float
    fixed: float
    parameters: int

    def bytes_for(self, images: int, height: int, width: int) -> int:
        """The floor of a step over `images` inputs of height x width pixels."""
        return int(
            self.parameters + self.fixed * images / PROBE_BATCH + self.per_pixel * images * height * width
        )

    def likely_peak(self, images: int, height: int, width: int, process: int = PROCESS_BYTES) -> int:
        """What a training process holds at its peak over such steps: `process` (what it holds
        before the first step; 0 for a GPU's own memory) plus HEADROOM times the floor."""
        return int(process + HEADROOM * self.bytes_for(images, height, width))


def measure_step_memory(
    spec: ModelSpec, criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], moments: int
) -> StepMemory:
    """Probe the network `spec` describes (its weights do not matter) with its training loss.

    Args:
        spec: the network as training builds it.
        criterion: the run's loss, `criterion(logits, target) -> scalar`.
        moments: tensors the optimiser keeps per weight (AdamW 2, SGD with momentum 1).
    """
    try:
        with torch.device("meta"):
            model = create_model(spec, load_weights=False)
        saved = [saved_bytes(model, criterion, spec.num_classes, side) for side in PROBE_SIDES]
    except (NotImplementedError, RuntimeError):  # an operator or an initialiser that needs data
        model = create_model(spec, load_weights=False)
        saved = [saved_bytes(model, criterion, spec.num_classes, side) for side in PROBE_SIDES]
    small, large = (PROBE_BATCH * side * side for side in PROBE_SIDES)
    per_pixel = (saved[1] - saved[0]) / (large - small)
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return StepMemory(
        per_pixel=per_pixel,
        fixed=max(0.0, saved[0] - per_pixel * small),
        parameters=parameter_bytes * (2 + moments),
    )


def saved_bytes(
    model: torch.nn.Module,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    classes: int,
    side: int,
) -> int:
    """Bytes of the distinct storages autograd saves for one training forward pass of PROBE_BATCH
    images of side x side px and its loss; the weights are left out (counted as parameters)."""
    generator = torch.Generator().manual_seed(0)
    weights = {p.untyped_storage()._cdata for p in model.parameters()}
    device = next(model.parameters()).device
    model.train()
    with _counting(weights) as network:
        logits = model(torch.zeros(PROBE_BATCH, 3, side, side, device=device))
    real_logits = torch.randn(logits.shape, generator=generator, requires_grad=True)
    target = torch.randint(0, classes, (PROBE_BATCH, *logits.shape[2:]), generator=generator)
    with _counting(set()) as loss:
        criterion(real_logits, target)
    return sum(network.values()) + sum(loss.values())


class _counting:
    """Within it, the bytes of every storage autograd saves, by storage (views counted once)."""

    def __init__(self, leave_out: set[int]):
        self.leave_out, self.storages = leave_out, {}
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._keep, lambda tensor: tensor)

    def _keep(self, tensor: torch.Tensor) -> torch.Tensor:
        # storages told apart by their C++ object: on the meta device every data pointer is 0
        storage = tensor.untyped_storage()
        if storage._cdata not in self.leave_out:
            self.storages[storage._cdata] = storage.nbytes()
        return tensor

    def __enter__(self) -> dict[int, int]:
        self.hooks.__enter__()
        return self.storages

    def __exit__(self, *exc) -> None:
        self.hooks.__exit__(*exc)
