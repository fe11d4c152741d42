"""`predict`'s output folder keeps its promises: unique names, its own files never taken as photos,
statistics that cover repeated and interrupted batches; library warnings stay off the terminal;
`evaluate` says what it left out; the Predictor refuses what is not a photo with a sentence."""

from __future__ import annotations

import csv
import io
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from helpers import make_pair, make_pairs
from PIL import Image
from test_infer import _meta

from seg_core.analytics.statistics import image_stats
from seg_core.cli import main
from seg_core.imagery.imageio import ImageReadError
from seg_core.inference import outputs
from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.schemes.scheme import HARVEY


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    return save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(resolution=64)}, tmp_path / "m.pt"
    )


def _photo(path, seed=0, size=(40, 30), **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def _predict(checkpoint, out, *inputs) -> int:
    return main(["predict", "--checkpoint", str(checkpoint), "--out", str(out), *map(str, inputs)])


def _rows(out):
    return list(csv.DictReader(io.StringIO((out / "stats.csv").read_text())))


def test_photos_sharing_a_stem_get_their_own_outputs_and_rows(checkpoint, tmp_path, capsys):
    a_jpg = _photo(tmp_path / "a" / "photo.jpg", 0)
    a_png = _photo(tmp_path / "a" / "photo.png", 1, size=(50, 20))
    b_png = _photo(tmp_path / "b" / "photo.png", 2, size=(24, 36))
    out = tmp_path / "out"
    assert _predict(checkpoint, out, a_jpg, a_png, b_png, b_png) == 0  # b_png twice: done once
    assert "3 image(s) segmented" in capsys.readouterr().out
    masks = sorted(p.name for p in out.glob("*_mask.png"))
    assert masks == ["photo_2_mask.png", "photo_3_mask.png", "photo_mask.png"]
    sizes = {np.asarray(Image.open(out / m)).shape for m in masks}
    assert sizes == {(30, 40), (20, 50), (36, 24)}  # three photos, none overwritten
    rows = _rows(out)
    assert sorted(r["source"] for r in rows) == sorted(str(p.resolve()) for p in (a_jpg, a_png, b_png))
    assert sorted(r["outputs"] for r in rows) == ["photo", "photo_2", "photo_3"]

    # The same batch again replaces its own files and rows: no photo_4, no duplicate rows.
    assert _predict(checkpoint, out, a_jpg, a_png, b_png) == 0
    assert sorted(p.name for p in out.glob("*_mask.png")) == masks
    assert sorted(r["outputs"] for r in _rows(out)) == ["photo", "photo_2", "photo_3"]


def test_an_output_folder_that_is_also_the_input_folder_is_not_segmented_again(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    _photo(photos / "ok.png")
    assert _predict(checkpoint, photos, photos) == 0
    assert _predict(checkpoint, photos, photos) == 0
    assert "earlier output file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in photos.iterdir()) == [
        "ok.png",
        "ok_mask.png",
        "ok_overlay.jpg",
        "ok_stats.json",
        "predict_manifest.0.jsonl",
        "stats.csv",
        "stats.json",
    ]
    assert [r["image"] for r in _rows(photos)] == ["ok.png"]


def test_batches_into_one_folder_add_up_and_an_interrupted_batch_keeps_what_it_did(
    checkpoint, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    first = _photo(tmp_path / "first.png", 0)
    assert _predict(checkpoint, out, first) == 0
    later = [_photo(tmp_path / "later" / f"{name}.png", i) for i, name in enumerate("bcd")]

    real = Predictor.predict_full

    def ctrl_c_on_the_third(self, image, *args, name=None, **kwargs):
        if name == "d.png":
            raise KeyboardInterrupt
        return real(self, image, *args, name=name, **kwargs)

    monkeypatch.setattr(Predictor, "predict_full", ctrl_c_on_the_third)
    # As in a folder of thousands: rows wait for the next rewrite, which Ctrl-C must not skip.
    monkeypatch.setattr(outputs, "WRITE_COST_FACTOR", 1e12)
    assert _predict(checkpoint, out, tmp_path / "later") == 130
    assert capsys.readouterr().err.strip().endswith("interrupted")
    assert sorted(r["image"] for r in _rows(out)) == ["b.png", "c.png", "first.png"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["summary"]["images"] == 3 and len(stats["images"]) == 3
    assert later[2].is_file() and not (out / "d_mask.png").exists()


def test_a_slow_rewrite_is_deferred_but_never_lost(tmp_path, monkeypatch):
    stats = image_stats(np.zeros((4, 4), np.uint8), HARVEY, name="a.png")
    folder = outputs.OutputFolder(tmp_path)
    folder.record(tmp_path / "a.png", "a", stats)  # the first rewrite happens at once
    monkeypatch.setattr(outputs, "WRITE_COST_FACTOR", 1e12)  # every later one "too soon"
    folder.record(tmp_path / "b.png", "b", stats)
    assert [r["outputs"] for r in _rows(tmp_path)] == ["a"]
    folder.flush()
    assert [r["outputs"] for r in _rows(tmp_path)] == ["a", "b"]
    assert [e.stem for e in outputs.OutputFolder(tmp_path).entries] == ["a", "b"]  # reloads


def test_predict_refuses_a_stats_json_it_did_not_write(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("my own notes")
    assert _predict(checkpoint, out, _photo(tmp_path / "p.png")) == 2
    assert "is not the statistics of an earlier predict batch" in capsys.readouterr().err
    assert (out / "stats.json").read_text() == "my own notes" and not (out / "p_mask.png").exists()


def test_library_warnings_do_not_reach_the_terminal(checkpoint, tmp_path, capsys):
    # A JPEG whose EXIF points past its end: Pillow warns "Corrupt EXIF data" while reading it.
    exif = bytes.fromhex("4578696600004d4d002a0000000800018769000400000001ffffff00")
    photo = _photo(tmp_path / "exif.jpg", exif=exif)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(photo) as image:
            image.getexif().get_ifd(0x8769)
        assert any("EXIF" in str(w.message) for w in caught)  # the file does provoke the warning
        caught.clear()
        assert _predict(checkpoint, tmp_path / "out", photo) == 0
        data = make_pairs(tmp_path / "data", 2)
        assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(data)]) == 0
    err = capsys.readouterr().err
    assert [str(w.message) for w in caught] == []
    assert "EXIF" not in err and "not writable" not in err and "Warning" not in err


def test_evaluate_says_which_pairs_it_left_out(checkpoint, tmp_path, capsys):
    data = make_pairs(tmp_path / "data", 3)
    make_pair(data, "odd", size=(20, 20))
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(data / "train_masks" / "odd.png")
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--json"]) == 0
    captured = capsys.readouterr()
    assert "1 faulty item(s)" in captured.err and "odd.png" in captured.err
    result = json.loads(captured.out)
    assert result["images"] == 3 and len(result["excluded"]) == 1


def test_a_checkpoint_folder_is_named_as_a_folder(checkpoint, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(checkpoint, folder / "best.pt")
    with pytest.raises(ValueError, match=r"is a folder, not a checkpoint file \(it holds best.pt\)"):
        Predictor.from_checkpoint(folder)


@pytest.mark.parametrize(
    ("image", "phrase"),
    [
        (None, "got NoneType"),
        (12, "got int"),
        (np.zeros((20, 30), np.float32), "got shape (20, 30) float32"),
        (np.zeros((20, 30, 2), np.uint8), "got shape (20, 30, 2) uint8"),
    ],
)
def test_the_predictor_refuses_what_is_not_a_photo_with_a_sentence(checkpoint, image, phrase):
    predictor = Predictor.from_checkpoint(checkpoint)
    with pytest.raises(ImageReadError) as error:
        predictor.predict(image)
    assert phrase in str(error.value)
