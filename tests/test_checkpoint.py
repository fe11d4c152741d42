import os
import pickle

import pytest
import torch

from seg_core.models.checkpoint import CheckpointError, clean_stale_temps, load_checkpoint, save_checkpoint


def _payload(value=1.0):
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": ["a"] * 25,
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "config": {"lr": 1e-3},
        "metrics": {"val_dice": 0.5},
    }
    return {"state_dict": {"w": torch.full((2, 2), value)}, "meta": meta}


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(_payload(), tmp_path / "best.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2, 2))
    assert loaded["meta"]["config"] == {"lr": 1e-3}
    torch.load(path, weights_only=True)  # the contract: plain torch can read it safely too


def test_failed_write_leaves_previous_checkpoint_and_no_temp(tmp_path, monkeypatch):
    path = save_checkpoint(_payload(1.0), tmp_path / "last.pt")

    def disk_full(obj, handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(_payload(2.0), path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


@pytest.mark.parametrize("free, raised", [(4096, OSError), (10 << 30, RuntimeError)])
def test_torchs_own_short_write_error_is_named_a_full_disk_only_when_the_disk_is_full(
    tmp_path, monkeypatch, free, raised
):
    """On a real full disk torch's zip writer raised "unexpected pos ..." (a RuntimeError), not
    ENOSPC: one CI run's full-disk test got "internal error" instead of "no space left"."""
    import shutil
    from collections import namedtuple

    path = save_checkpoint(_payload(1.0), tmp_path / "last.pt")

    def short_write(obj, handle):
        handle.write(b"PK\x03\x04 part")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1142336 vs 1142228")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", short_write)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(20 << 30, 20 << 30, free))
    with pytest.raises(raised) as caught:
        save_checkpoint(_payload(2.0), path)
    if raised is OSError:
        assert caught.value.errno == 28 and "unexpected pos" in str(caught.value)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(2, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_stale_temps_are_cleaned(tmp_path):
    (tmp_path / ".last.pt.123.partial").write_bytes(b"half")
    save_checkpoint(_payload(), tmp_path / "last.pt")
    assert [p.name for p in clean_stale_temps(tmp_path)] == [".last.pt.123.partial"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": Exploit()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (os.urandom(2048), "damaged or not a PyTorch file"),
    ],
)
def test_empty_and_random_files_are_refused(tmp_path, content, message):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_and_foreign_files_are_refused(tmp_path):
    good = save_checkpoint(_payload(), tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(cut)
    torch.save({"weights": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a StormSeg checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_altered_after_the_save_are_refused(tmp_path):
    payload = _payload()
    marker = torch.full((64,), 1.2345)
    payload["state_dict"]["model.marker"] = marker
    path = save_checkpoint(payload, tmp_path / "best.pt")
    assert load_checkpoint(path)["meta"]["weights_sha256"]  # written with the weights
    raw = bytearray(path.read_bytes())
    at = bytes(raw).find(marker.numpy().tobytes())
    assert at > 0
    raw[at + 3] ^= 0x01  # one bit of one weight; the zip structure stays valid
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="do not match the checksum.*altered or damaged"):
        load_checkpoint(path)


def test_checkpoints_without_a_checksum_still_load(tmp_path):
    payload = _payload()
    path = tmp_path / "old.pt"
    torch.save(payload, path)  # as written before checksums existed
    assert "weights_sha256" not in load_checkpoint(path)["meta"]


# --------------------------------------------------------------------------- model metadata


def test_the_spec_round_trips_through_checkpoint_meta():
    from seg_core.models import ModelSpec
    from seg_core.models.checkpoint import checkpoint_meta, scheme_of
    from seg_core.schemes.scheme import HARVEY, RESCUENET

    for spec, scheme in (
        (ModelSpec(), HARVEY),
        (ModelSpec(arch="unet", weights="none", unet_base_width=8, num_classes=11), RESCUENET),
    ):
        meta = checkpoint_meta(spec, 640, (0.5,) * 3, (0.5,) * 3, scheme, epoch=3)
        assert ModelSpec.from_meta(meta) == spec
        assert meta["resolution"] == 640 and meta["epoch"] == 3
        assert meta["class_names"] == list(scheme.names) and scheme_of(meta, "x.pt") == scheme
        assert set(spec.to_meta()) <= set(meta)
    with pytest.raises(ValueError, match="11 classes"):
        checkpoint_meta(ModelSpec(), 640, (0.5,) * 3, (0.5,) * 3, RESCUENET)


def test_an_old_unet_checkpoint_without_its_width_reads_it_from_the_weights():
    """No hidden default: a classic U-Net saved before unet_base_width was recorded is rebuilt
    at the width its weights have (a default of 64 would refuse a width-4 file)."""
    from seg_core.models import ModelSpec, create_model

    state = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), False).state_dict()
    old_meta = {"arch": "unet", "encoder": "none", "num_classes": 25}
    assert ModelSpec.from_meta(old_meta, state).unet_base_width == 4
    with pytest.raises(ValueError, match="lacks unet_base_width"):
        ModelSpec.from_meta(old_meta, {})


def test_a_checkpoint_of_another_architecture_needs_no_unet_width():
    # bench/inference.py's default-model checkpoint records arch and encoder only.
    from seg_core.models import ModelSpec

    default = ModelSpec()
    spec = ModelSpec.from_meta({"arch": default.arch, "encoder": default.encoder, "num_classes": 25})
    assert (spec.arch, spec.encoder, spec.weights) == (default.arch, default.encoder, "none")


def test_the_shipped_demo_checkpoint_still_loads():
    from seg_core.core.paths import REPO_ROOT
    from seg_core.models import ModelSpec
    from seg_core.models.checkpoint import model_spec_of

    path = REPO_ROOT / "checkpoints" / "demo" / "best.pt"
    spec = model_spec_of(load_checkpoint(path), path)
    assert spec == ModelSpec(arch="fpn", encoder="tu-efficientnet_lite0", weights="imagenet-offline")


def test_a_half_precision_copy_keeps_meta_and_counters_and_loads_into_float32(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from half_checkpoint import halve, main

    payload = _payload(1.0 / 3)
    payload["state_dict"]["bn.num_batches_tracked"] = torch.tensor(7)
    source = save_checkpoint(payload, tmp_path / "full.pt")
    digest = halve(source, tmp_path / "half.pt")
    half = load_checkpoint(tmp_path / "half.pt")  # its own checksum verified on load
    assert half["meta"]["weights_sha256"] == digest != load_checkpoint(source)["meta"]["weights_sha256"]
    assert half["meta"]["float32_weights_sha256"] == load_checkpoint(source)["meta"]["weights_sha256"]
    assert half["state_dict"]["w"].dtype == torch.float16
    assert half["state_dict"]["bn.num_batches_tracked"].dtype == torch.int64
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 2))
    model.load_state_dict({"w": half["state_dict"]["w"]})  # copied into float32
    assert model.w.dtype == torch.float32 and torch.allclose(model.w, torch.full((2, 2), 1.0 / 3), atol=1e-3)
    assert main([str(tmp_path / "missing.pt"), str(tmp_path / "out.pt")]) == 2
    assert not (tmp_path / "out.pt").exists()
