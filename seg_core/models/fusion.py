"""Inference-only speed-ups of a trained network: BatchNorm folding and `torch.compile`.

    model = fold_batchnorm(model.eval())      # same outputs, ~10% faster eager forward on CPU
    model = compile_for_inference(model)      # inductor with freezing; first call compiles

Why folding: in eval mode a BatchNorm right after a convolution is an affine map per channel,
so it can be merged into the convolution's weights and bias. That removes one full pass over
every activation (12% of a DeepLabV3+/EfficientNet-Lite0 forward on 2 CPU cores,
docs/BENCHMARKS.md). Which BatchNorm follows which convolution is found by running the model
once and watching the tensors flow, not by knowing the architecture; the folded model is then
checked against the original on the same input and discarded if it differs, so an unusual
architecture can only lose the speed-up, never the right answer.

Why compiling is opt-in: inductor with freezing fuses the remaining element-wise work into the
convolutions (about 1.5x the eager forward here) but takes 15-25 s per new input shape on
2 cores, which only pays off over many photos of one size (a batch `predict --compile`).
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

# Largest difference in logits accepted between the folded and the original model. Folding only
# reorders float32 arithmetic, so differences are ~1e-5; a wrong fold differs by O(1).
FOLD_TOLERANCE = 1e-3


class _AfterNorm(nn.Module):
    """What remains of timm's BatchNormAct2d once its normalisation is folded away: drop + act."""

    def __init__(self, norm_act: nn.Module) -> None:
        super().__init__()
        self.drop = norm_act.drop
        self.act = norm_act.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def _conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv name, batchnorm name) pairs where the BatchNorm's input is exactly a Conv2d's output
    and that output feeds nothing else, found by tracing one forward pass with hooks."""
    produced_by: dict[int, str] = {}  # id of a conv output -> conv name
    consumers: dict[int, list[str]] = {}
    modules = dict(model.named_modules())
    leaf_names = {
        id(m): n for n, m in modules.items() if not list(m.children()) or isinstance(m, nn.BatchNorm2d)
    }
    keep_alive: list[torch.Tensor] = []  # ids are only unique while the tensors live

    def pre_hook(module, args):
        name = leaf_names.get(id(module))
        for arg in args:
            if isinstance(arg, torch.Tensor) and id(arg) in produced_by:
                consumers.setdefault(id(arg), []).append(name)

    def post_hook(module, args, output):
        if isinstance(module, nn.Conv2d) and isinstance(output, torch.Tensor):
            produced_by[id(output)] = leaf_names[id(module)]
            keep_alive.append(output)

    handles = []
    for module in modules.values():
        if id(module) in leaf_names:
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    pairs = []
    for tensor_id, conv_name in produced_by.items():
        users = consumers.get(tensor_id, [])
        if len(users) == 1 and isinstance(modules.get(users[0]), nn.BatchNorm2d):
            pairs.append((conv_name, users[0]))
    return pairs


def _fold_pair(model: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
    if bn.running_mean is None or conv.weight.shape[0] != bn.num_features:
        return
    scale = bn.weight.detach() if bn.affine else torch.ones_like(bn.running_var)
    shift = bn.bias.detach() if bn.affine else torch.zeros_like(bn.running_mean)
    factor = scale / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        conv.weight.mul_(factor.view(-1, 1, 1, 1))
        conv.bias = nn.Parameter((bias - bn.running_mean) * factor + shift)
    parent_name, _, child = bn_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    replacement = _AfterNorm(bn) if hasattr(bn, "act") and hasattr(bn, "drop") else nn.Identity()
    setattr(parent, child, replacement)


def fold_batchnorm(model: nn.Module, example: torch.Tensor | None = None) -> nn.Module:
    """A copy of an eval-mode `model` with every Conv2d -> BatchNorm2d pair merged.

    Args:
        model: the network (left untouched).
        example: an input to trace with; a small random image by default.

    Returns:
        The folded copy, or `model` itself when nothing could be folded or the folded copy's
        outputs differ from the original's (logged).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (training BatchNorm is not affine)")
    parameter = next(model.parameters(), None)
    if parameter is None:
        return model
    if example is None:
        generator = torch.Generator().manual_seed(0)
        example = torch.randn(1, 3, 128, 128, generator=generator).to(parameter.device)
    example = example.contiguous(memory_format=torch.channels_last) if example.dim() == 4 else example
    pairs = _conv_bn_pairs(model, example)
    if not pairs:
        return model
    folded = copy.deepcopy(model)
    for conv_name, bn_name in pairs:
        _fold_pair(folded, conv_name, bn_name)
    with torch.inference_mode():
        difference = (folded(example).float() - model(example).float()).abs().max().item()
    if not difference <= FOLD_TOLERANCE:
        log.warning("BatchNorm folding changed the outputs by %.3g; using the unfolded model", difference)
        return model
    return folded


def compile_for_inference(model: nn.Module) -> nn.Module:
    """`torch.compile` with inductor's freezing (weights become constants: BatchNorm folding and
    weight pre-packing for oneDNN). Compiles lazily on the first call of each input shape."""
    # Inductor's C++ toolchain probe warns "No CUDA runtime is found" on every CPU machine with
    # the CUDA build of torch: true, and nothing a user can act on.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(model, options={"freezing": True})
