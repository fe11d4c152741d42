"""`label` and `finetune` on the command line: JSON status, the labelling order, bad input as one sentence."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from seg_core.cli import main
from seg_core.labelling.labelstore import LabelStore


def test_label_status_and_next_as_json(tmp_path, capsys):
    root = tmp_path / "storm"
    (root / "train_images").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "train_images" / f"p{i}.png")
    LabelStore(root).save_prelabel(
        "p1",
        np.zeros((20, 30), np.uint8),
        "demo",
        {"mean": 0.2, "uncertain_share": 0.3, "least_sure_class": None, "least_sure_share": 0.0},
    )
    assert main(["label", "status", str(root), "--json"]) == 0
    photos = json.loads(capsys.readouterr().out)["photos"]
    assert [(p["photo"], p["status"]) for p in photos] == [("p0", "unlabelled"), ("p1", "pre-labelled")]
    assert main(["label", "next", str(root), "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["next"]
    assert [r["stem"] for r in ranked] == ["p1", "p0"] and ranked[1]["reason"].startswith("not pre-labelled")


def test_bad_input_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert main(["label", "status", str(tmp_path / "missing")]) == 2
    assert "missing: no such dataset folder" in capsys.readouterr().err
    assert main(["finetune", "--parent", str(tmp_path / "nope.pt"), "--data", str(tmp_path)]) == 2
    assert "nope.pt: checkpoint not found" in capsys.readouterr().err
    broken = tmp_path / "starter.pt"
    broken.write_bytes(b"half a file")
    for starter, said in (
        (tmp_path / "gone.pt", "gone.pt: checkpoint not found"),
        (broken, "starter.pt: the checkpoint is damaged"),
    ):
        assert main(["finetune", "--parent", "demo", "--data", str(tmp_path), "--starter", str(starter)]) == 2
        assert said in capsys.readouterr().err
