"""A saved mask's provenance: how much of it is a model's unreviewed pre-label. Evaluate leaves
out masks that are the scored model's own guess (and says how much of the truth is), and
fine-tuning warns before it trains a model on such masks or on a single photo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import Pointwise
from PIL import Image

from seg_core.cli import main
from seg_core.evaluation.evaluate import evaluate_checkpoint
from seg_core.inference.predictor import Predictor
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.provenance import describe_save, own_truth_share, person_share
from seg_core.schemes.classes import CLASS_NAMES
from seg_core.services import labelling

META = {
    "arch": "unet",
    "encoder": "none",
    "num_classes": 25,
    "class_names": list(CLASS_NAMES),
    "resolution": 64,
    "mean": [0.5] * 3,
    "std": [0.5] * 3,
}


@pytest.fixture
def checkpoint(tmp_path):
    """A pointwise model saved as a checkpoint (with its weights checksum, as training writes)."""
    from helpers import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path / "model" / "best.pt")


@pytest.fixture
def storm(tmp_path):
    root = tmp_path / "storm"
    (root / "train_images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(
            root / "train_images" / f"p{i}.png"
        )
    return root


def test_the_record_tells_changed_confirmed_and_unreviewed_pixels_apart():
    prelabel = np.ones((10, 10), np.uint8)
    mask = prelabel.copy()
    mask[:2] = 23  # changed: 20 px
    touched = np.zeros((10, 10), bool)
    touched[:5] = True  # the person also painted rows 2-4 with the class already there: 30 px confirmed
    record = describe_save(mask, prelabel, {"model": "demo", "weights_sha256": "abc"}, touched, edits=2)
    assert (record["changed_share"], record["confirmed_share"], record["unreviewed_share"]) == (0.2, 0.3, 0.5)
    assert record["prelabel"]["model"] == "demo" and record["review"] == {"state": "unreviewed"}
    assert person_share(record) == 0.5
    assert own_truth_share(mask, prelabel, record) == pytest.approx(0.5)
    accepted = {**record, "review": {"state": "accepted", "by": "lead"}}  # what the review workflow adds
    assert person_share(accepted) == 1.0 and own_truth_share(mask, prelabel, accepted) == 0.0
    drawn = describe_save(mask, None, None, touched, edits=1)  # no pre-label: all a person's
    assert drawn["prelabel"] is None and person_share(drawn) == 1.0


def _prelabel_and_save(root, predictor, edit_rows: dict[str, int]) -> None:
    """Pre-label every photo with `predictor`, then save each photo after painting its first
    `edit_rows[stem]` rows Flooded (0: saved as the pre-label)."""
    assert labelling.prelabel_photos(root, predictor, "tiny") == []
    for stem, rows in edit_rows.items():
        session = labelling.open_photo(root, stem, "ana")
        if rows:
            width = session.original_size[0]
            session.editor.fill_polygon([(0, 0), (width, 0), (width, rows), (0, rows)], 23)
        labelling.save_labels(session)


def test_saving_records_what_a_person_did_and_the_label_table_shows_it(storm):
    predictor = Predictor(Pointwise(), META, torch.device("cpu"))
    _prelabel_and_save(storm, predictor, {"p0": 60, "p1": 0})
    store = LabelStore(storm)
    full, untouched = store.saved_provenance("p0"), store.saved_provenance("p1")
    assert full["unreviewed_share"] == 0.0 and full["prelabel"]["model"] == "tiny"
    assert untouched["unreviewed_share"] == 1.0 and untouched["changed_share"] == 0.0
    by_person = {row["photo"]: row["by_person"] for row in labelling.photo_table(storm)}
    assert by_person == {"p0": 1.0, "p1": 0.0, "p2": None}


def test_evaluate_leaves_out_the_models_own_unreviewed_prelabels_and_says_so(storm, checkpoint, capsys):
    predictor = Predictor.from_checkpoint(checkpoint)
    _prelabel_and_save(storm, predictor, {"p0": 60, "p1": 0, "p2": 30})
    result = evaluate_checkpoint(predictor, storm, "all", checkpoint=str(checkpoint))
    assert [s.stem for s in result.images] == ["p0"]  # p1 is all its own guess, p2 half of it
    assert set(result.left_out) == {"p1", "p2"} and result.left_out["p1"] == 1.0
    assert result.own_truth_share == 0.0 and "2 masks left out" in result.truth_notes()[0]

    included = evaluate_checkpoint(
        predictor, storm, "all", checkpoint=str(checkpoint), include_own_prelabels=True
    )
    assert len(included.images) == 3 and included.left_out == {}
    assert included.own_truth_share == pytest.approx((0 + 1 + 0.5) / 3, abs=0.01)

    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(storm), "--json"]) == 0
    captured = capsys.readouterr()
    own = json.loads(captured.out)["own_prediction"]
    assert own["included"] is False and [r["image"] for r in own["left_out"]] == ["p1", "p2"]
    assert "left out of the score (p1, p2)" in captured.err

    # Another model's pre-labels are its truth to beat, not its own guess.
    other = Predictor(Pointwise(), META, torch.device("cpu"))
    assert len(evaluate_checkpoint(other, storm, "all").images) == 3


def test_a_dataset_that_is_all_the_models_own_guess_gets_a_sentence(storm, checkpoint, capsys):
    predictor = Predictor.from_checkpoint(checkpoint)
    _prelabel_and_save(storm, predictor, {"p0": 0, "p1": 0, "p2": 0})
    with pytest.raises(ValueError, match="every mask to score .3. is largely this model's own pre-label"):
        evaluate_checkpoint(predictor, storm, "all", checkpoint=str(checkpoint))
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(storm)]) == 2
    assert "--include-own-prelabels" in capsys.readouterr().err
    assert (
        main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(storm), "--include-own-prelabels"])
        == 0
    )


def test_fine_tuning_warns_about_a_single_photo_and_unreviewed_prelabels(storm):
    predictor = Predictor(Pointwise(), META, torch.device("cpu"))
    _prelabel_and_save(storm, predictor, {"p1": 0})
    cautions = labelling.finetune_cautions(storm)
    assert len(cautions) == 2
    assert cautions[0].startswith("Only 1 photo of storm has a saved mask")
    assert (
        "1 of the 1 saved mask is mostly a model's pre-label that nobody changed or confirmed: p1 (100%)"
        in (cautions[1])
    )
    _prelabel_and_save(storm, predictor, {"p0": 60, "p2": 60})
    assert len(labelling.finetune_cautions(storm)) == 1  # p1 still unreviewed; three photos now


def test_the_finetune_command_prints_the_cautions_before_it_trains(storm, checkpoint, capsys, monkeypatch):
    from seg_core.training import loop

    predictor = Predictor(Pointwise(), META, torch.device("cpu"))
    _prelabel_and_save(storm, predictor, {"p1": 0})
    monkeypatch.setattr(loop, "fit", lambda *args, **kwargs: "completed")  # the warning is what matters
    command = ["finetune", "--parent", str(checkpoint), "--data", str(storm), "--epochs", "1"]
    assert main(command) == 2  # the saved mask waits for review: nothing to train on by default
    assert main([*command, "--include-unreviewed"]) == 0
    err = capsys.readouterr().err
    assert "warning: Only 1 photo of storm has a saved mask" in err
    assert "warning: 1 of the 1 saved mask is mostly a model's pre-label" in err
