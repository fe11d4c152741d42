"""Partial labels: the sidecar's format, validation of datasets that use it, and a loss that learns
only what a label says (never "everything unlabelled is Background")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import make_pairs
from PIL import Image

from seg_core.datasets.discovery import validate_dataset
from seg_core.datasets.partial import (
    PARTIAL_LABELS_FILE,
    PartialLabels,
    read_partial_labels,
    update_partial_labels,
    write_partial_labels,
)
from seg_core.schemes.classes import IGNORE_INDEX, NUM_CLASSES
from seg_core.training.partial import (
    PartialLabelDataset,
    PartialLabelLoss,
    allowed_classes,
    partial_label_loss,
)

BACKGROUND, ROAD, ROOF, FLOODED = 0, 14, 1, 23


# --------------------------------------------------------------------------- format


def test_not_codes_are_allocated_once_per_class_set_from_the_top():
    labels = PartialLabels()
    assert labels.code_for([ROAD]) == 254
    assert labels.code_for([ROOF, ROAD]) == 253
    assert labels.code_for([ROAD, ROAD]) == 254  # the same set, the same code
    assert labels.mask_values() == {IGNORE_INDEX, 254, 253}


@pytest.mark.parametrize("classes", [[], list(range(NUM_CLASSES)), [NUM_CLASSES], [-1]])
def test_a_not_code_must_rule_out_some_but_not_all_classes(classes):
    with pytest.raises(ValueError, match="class"):
        PartialLabels().code_for(classes)


def test_the_sidecar_round_trips_and_a_labelled_only_photo_maps_its_untrusted_classes(tmp_path):
    labels = PartialLabels()
    labels.set_labelled_only("IMG_1", [ROAD])
    write_partial_labels(tmp_path, labels)
    again = read_partial_labels(tmp_path)
    assert again.labelled_only == {"IMG_1": (ROAD,)} and again.not_codes == {254: (ROAD,)}
    table = again.value_map("IMG_1")
    assert table[ROAD] == ROAD and table[BACKGROUND] == 254 and table[FLOODED] == 254
    assert table[IGNORE_INDEX] == IGNORE_INDEX
    assert np.array_equal(again.value_map("IMG_2"), np.arange(256))  # other photos: as saved
    named = json.loads((tmp_path / PARTIAL_LABELS_FILE).read_text())["not_codes_named"]
    assert named == {"254": ["Road/Highway"]}


def test_marking_every_class_or_none_makes_the_photo_a_full_label_again(tmp_path):
    update_partial_labels(tmp_path, lambda labels: labels.set_labelled_only("IMG_1", [ROAD]))
    update_partial_labels(tmp_path, lambda labels: labels.set_labelled_only("IMG_1", []))
    assert read_partial_labels(tmp_path).labelled_only == {}


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "cannot read"),
        ('{"format": "other"}', "not a partial-label file"),
        ('{"format": "stormseg-partial-labels", "version": 9}', "version 9"),
        ('{"format": "stormseg-partial-labels", "version": 1, "not_codes": {"7": [14]}}', "not-code '7'"),
        ('{"format": "stormseg-partial-labels", "version": 1, "not_codes": {"254": 14}}', "JSON arrays"),
        (
            '{"format": "stormseg-partial-labels", "version": 1, "labelled_only": {"a": [14]}}',
            "no not-code",
        ),
    ],
)
def test_a_malformed_sidecar_is_refused_with_its_name(tmp_path, content, problem):
    (tmp_path / PARTIAL_LABELS_FILE).write_text(content)
    with pytest.raises(ValueError, match=problem) as caught:
        read_partial_labels(tmp_path)
    assert PARTIAL_LABELS_FILE in str(caught.value)


def test_validation_accepts_declared_codes_and_unknown_pixels_only_in_a_partial_dataset(tmp_path):
    root = make_pairs(tmp_path / "data", 2)
    mask_path = root / "train_masks" / "img0.png"
    mask = np.array(Image.open(mask_path))
    mask[:4] = IGNORE_INDEX
    mask[4:8] = 254
    Image.fromarray(mask, mode="L").save(mask_path)
    report = validate_dataset(root)
    assert [p.kind for p in report.problems] == ["bad_labels"] and len(report.pairs) == 1

    labels = PartialLabels()
    labels.code_for([ROAD])
    write_partial_labels(root, labels)
    report = validate_dataset(root)
    assert not report.problems and len(report.pairs) == 2

    mask[8:10] = 200  # a value no code declares
    Image.fromarray(mask, mode="L").save(mask_path)
    assert [p.kind for p in validate_dataset(root).problems] == ["bad_labels"]


# --------------------------------------------------------------------------- loss


def _pixel(logits: list[float]) -> torch.Tensor:
    """One pixel's logits as a (1, C, 1, 1) tensor, the classes not given at -2."""
    full = torch.full((NUM_CLASSES,), -2.0)
    full[: len(logits)] = torch.tensor(logits)
    return full.view(1, NUM_CLASSES, 1, 1)


def _gradient(loss_of, logits: torch.Tensor) -> torch.Tensor:
    logits = logits.clone().requires_grad_(True)
    loss_of(logits).backward()
    return logits.grad.view(-1)


def test_a_not_road_pixel_is_never_pushed_toward_background():
    """The model thinks a pixel is flooded; the label says only "not road". Partial loss: the
    pixel already satisfies the label, so nothing moves toward Background. Plain cross-entropy
    with unlabelled pixels read as Background pulls Background up and Flooded down."""
    labels = PartialLabels()
    not_road = labels.code_for([ROAD])
    allowed = allowed_classes(labels)
    logits = _pixel([0.0] * NUM_CLASSES)
    logits[0, FLOODED] = 6.0
    target = torch.tensor([[[not_road]]])

    partial = _gradient(lambda z: partial_label_loss(z, target, allowed, ce=True, dice=False), logits)
    probs = logits.softmax(1).view(-1)
    # Gradient descent moves each allowed class's logit by -grad: in proportion to its own
    # probability, so Background gains nothing relative to Flooded (ratios of allowed classes keep).
    others = [c for c in range(NUM_CLASSES) if c != ROAD]
    ratio = partial[others] / probs[others]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), atol=1e-6)
    assert partial[ROAD] > 0  # road goes down
    assert float(partial_label_loss(logits, target, allowed, ce=True, dice=False)) < 0.01

    as_background = torch.tensor([[[BACKGROUND]]])
    plain = _gradient(lambda z: F.cross_entropy(z, as_background), logits)
    plain_ratio = plain[others] / probs[others]
    assert not torch.allclose(plain_ratio, plain_ratio[0].expand_as(plain_ratio), atol=1e-3)
    assert plain[BACKGROUND] < 0 and plain[FLOODED] > 0  # plain CE: toward Background, off Flooded


def test_unknown_pixels_get_no_gradient_and_class_pixels_get_cross_entropy():
    allowed = allowed_classes(None, NUM_CLASSES)
    logits = torch.randn(1, NUM_CLASSES, 2, 2)
    target = torch.tensor([[[ROAD, IGNORE_INDEX], [IGNORE_INDEX, ROOF]]])
    grad = _gradient(lambda z: partial_label_loss(z, target, allowed, ce=True, dice=False), logits)
    grad = grad.view(NUM_CLASSES, 2, 2)
    assert torch.all(grad[:, 0, 1] == 0) and torch.all(grad[:, 1, 0] == 0)
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    assert torch.allclose(partial_label_loss(logits, target, allowed, ce=True, dice=False), expected)


def test_on_full_labels_the_partial_loss_is_ce_plus_dice():
    from seg_core.training.losses import ce_dice_loss

    torch.manual_seed(0)
    logits = torch.randn(2, NUM_CLASSES, 5, 4)
    target = torch.randint(0, NUM_CLASSES, (2, 5, 4))
    target[0, 0, 0] = IGNORE_INDEX
    value = PartialLabelLoss(None, "ce_dice", NUM_CLASSES)(logits, target)
    assert torch.allclose(value, ce_dice_loss(logits, target), atol=1e-5)


def test_dice_counts_a_not_road_pixel_only_as_a_road_negative():
    labels = PartialLabels()
    not_road = labels.code_for([ROAD])
    allowed = allowed_classes(labels)
    logits = torch.zeros(1, NUM_CLASSES, 1, 2)
    logits[0, FLOODED, 0, 1] = 5.0  # the not-road pixel looks flooded
    logits[0, ROOF, 0, 0] = 5.0  # the roof pixel looks like a roof
    target = torch.tensor([[[ROOF, not_road]]])
    grad = _gradient(lambda z: partial_label_loss(z, target, allowed, ce=False, dice=True), logits)
    grad = grad.view(NUM_CLASSES, 1, 2)
    # The roof's Dice denominator counts the not-road pixel as unknown for roof: it does not push
    # the flooded-looking pixel's roof probability, and nothing pushes it toward Background.
    assert float(grad[ROOF, 0, 1]) == pytest.approx(0.0, abs=1e-7)
    assert float(grad[BACKGROUND, 0, 1]) == pytest.approx(0.0, abs=1e-7)


def test_a_loss_without_a_partial_form_is_refused_by_name():
    with pytest.raises(ValueError, match="lovasz.*ce, dice, ce_dice"):
        PartialLabelLoss(PartialLabels(), "lovasz")


def test_hard_pixel_mining_is_refused_on_partial_labels_and_ignored_elsewhere(tmp_path):
    from types import SimpleNamespace

    from seg_core.schemes.scheme import builtin
    from seg_core.training.partial import use_partial_labels

    setup = SimpleNamespace(scheme=builtin("harvey"))
    plain = torch.nn.CrossEntropyLoss()
    assert use_partial_labels(tmp_path, "ce", setup, plain, print, ohem_share=0.25) is plain  # no sidecar
    write_partial_labels(tmp_path, PartialLabels())
    with pytest.raises(ValueError, match="ohem_share 0.25 cannot be used with partial labels"):
        use_partial_labels(tmp_path, "ce", setup, plain, print, ohem_share=0.25)


def test_the_training_dataset_applies_each_photos_claim(tmp_path):
    class Base(torch.utils.data.Dataset):
        pairs = [type("P", (), {"stem": "a"})(), type("P", (), {"stem": "b"})()]

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return torch.zeros(3, 1, 3), torch.tensor([[ROAD, FLOODED, IGNORE_INDEX]])

    labels = PartialLabels()
    labels.set_labelled_only("a", [ROAD])
    dataset = PartialLabelDataset(Base(), labels)
    assert dataset[0][1].tolist() == [[ROAD, 254, IGNORE_INDEX]]
    assert dataset[1][1].tolist() == [[ROAD, FLOODED, IGNORE_INDEX]]
    assert dataset.pairs[1].stem == "b"  # the wrapped dataset's attributes show through
    scoring = PartialLabelDataset(Base(), labels, for_scoring=True)
    assert scoring[0][1].tolist() == [[ROAD, IGNORE_INDEX, IGNORE_INDEX]]  # scores: known pixels only


@pytest.mark.slow
def test_a_run_on_a_partial_dataset_trains_with_the_set_valued_loss(tmp_path):
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit

    root = make_pairs(tmp_path / "data", 4, size=(64, 48))
    mask_path = root / "train_masks" / "img0.png"
    mask = np.array(Image.open(mask_path))
    mask[:8] = IGNORE_INDEX
    Image.fromarray(mask, mode="L").save(mask_path)
    update_partial_labels(root, lambda labels: labels.set_labelled_only("img1", [ROAD]))
    cfg = TrainConfig(
        data=str(root),
        arch="unet",
        encoder="none",
        weights="none",
        unet_base_width=4,
        resolution=64,
        crop=32,
        batch_size=2,
        epochs=1,
        val_ratio=0.25,
        loss="ce_dice",
    )
    registry = RunRegistry()
    record = registry.create_run(cfg.to_dict(), name="partial")
    assert fit(cfg, record.id, registry, record.checkpoint_dir) == "completed"
    logs = " ".join(row.message for row in registry.logs(record.id))
    assert "partial labels: 1 not-code(s)" in logs

    from helpers import write_tiny_checkpoint

    from seg_core.training.finetune import finetune_config

    parent = write_tiny_checkpoint(tmp_path / "parent.pt")
    child = finetune_config(parent, root, epochs=1, crop=32)
    record = registry.create_run(child.to_dict(), name="child")
    assert fit(child, record.id, registry, record.checkpoint_dir) == "completed"
    assert "the parent's beliefs anchor the other classes" in " ".join(
        r.message for r in registry.logs(record.id)
    )

    lovasz = cfg.with_updates(loss="lovasz")
    record = registry.create_run(lovasz.to_dict(), name="lovasz")
    assert fit(lovasz, record.id, registry, record.checkpoint_dir) == "failed"
    assert "loss 'lovasz' cannot learn from partial labels" in registry.get(record.id).error


def test_the_parent_anchor_keeps_the_parents_belief_where_the_label_is_silent():
    """A "not road" pixel that the parent thought was Background and the model now calls Flooded:
    the set-valued loss alone is content (no road either way); the anchor pulls the model back
    toward Background among the classes still allowed, and never toward Road."""
    labels = PartialLabels()
    not_road = labels.code_for([ROAD])
    allowed = allowed_classes(labels)
    logits = _pixel([0.0] * NUM_CLASSES)
    logits[0, FLOODED] = 6.0
    target = torch.tensor([[[not_road]]])
    parent = torch.full((1, NUM_CLASSES, 1, 1), 0.1 / (NUM_CLASSES - 2))
    parent[0, BACKGROUND], parent[0, ROAD] = 0.9, 0.0  # renormalised over the allowed classes

    free = _gradient(lambda z: partial_label_loss(z, target, allowed, dice=False), logits)
    anchored = _gradient(lambda z: partial_label_loss(z, target, allowed, dice=False, anchor=parent), logits)
    assert abs(float(free[BACKGROUND])) < 1e-3  # without the anchor: nothing moves it
    assert anchored[BACKGROUND] < -0.5 and anchored[FLOODED] > 0.5  # descent: Background up, Flooded down
    assert anchored[ROAD] >= free[ROAD] - 1e-6  # the anchor adds no pull toward road


def test_the_anchor_is_a_target_channel_only_on_not_code_pixels():
    from seg_core.training.partial import ParentAnchor

    class Parent(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], NUM_CLASSES, *x.shape[2:])
            out[:, FLOODED] = 3.0
            return out

    labels = PartialLabels()
    not_road = labels.code_for([ROAD])
    run = type("Run", (), {"device": torch.device("cpu"), "amp": None})()
    anchor = ParentAnchor(Parent(), allowed_classes(labels), run)
    masks = torch.tensor([[[ROOF, not_road, IGNORE_INDEX]]])
    target = anchor.targets(torch.zeros(1, 3, 1, 3), masks)
    assert target.shape == (1, 1 + NUM_CLASSES, 1, 3)
    assert target[0, 0].long().tolist() == [[ROOF, not_road, IGNORE_INDEX]]
    assert target[0, 1:, 0, 0].sum() == 0 and target[0, 1:, 0, 2].sum() == 0  # a class id, unknown
    silent = target[0, 1:, 0, 1]
    assert float(silent.sum()) == pytest.approx(1.0) and silent[ROAD] == 0 and silent.argmax() == FLOODED
    loss = PartialLabelLoss(labels, "ce_dice")
    assert torch.isfinite(loss(torch.randn(1, NUM_CLASSES, 1, 3), target))


def test_the_parent_anchor_is_left_out_where_it_has_nothing_to_anchor(monkeypatch):
    from types import SimpleNamespace

    import seg_core.models
    from seg_core.training.partial import ParentAnchor

    def run(labels, new_head=""):
        cfg = SimpleNamespace(init_from="parent.pt", new_head=new_head)
        return SimpleNamespace(
            criterion=PartialLabelLoss(labels, "ce_dice"), cfg=cfg, setup=SimpleNamespace(spec=None)
        )

    assert ParentAnchor.for_run(SimpleNamespace(criterion=torch.nn.CrossEntropyLoss())) is None  # full labels
    marked = PartialLabels()
    marked.code_for([ROAD])
    assert ParentAnchor.for_run(run(marked, new_head="roles")) is None  # the parent's classes differ

    class ParentLoaded(Exception):
        pass

    def load_parent(*args, **kwargs):
        raise ParentLoaded

    monkeypatch.setattr(seg_core.models, "create_model", load_parent)
    with pytest.raises(ParentLoaded):
        ParentAnchor.for_run(run(marked))  # a fine-tune on not-codes does load its parent
    with pytest.raises(ParentLoaded):
        ParentAnchor.for_run(run(PartialLabels()))  # and one on labels that only say where classes are


def test_labels_that_never_say_not_anchor_every_unknown_pixel_to_the_parent():
    """An incomplete map marks roofs and says nothing elsewhere: no not-code anywhere. The unknown
    pixels then carry the parent's whole belief, and a model that calls an unknown pixel Property
    Roof where the parent saw Background is pulled back; labelled pixels carry no anchor."""
    from seg_core.training.partial import ParentAnchor

    class Parent(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], NUM_CLASSES, *x.shape[2:])
            out[:, BACKGROUND] = 4.0
            return out

    labels = PartialLabels()  # roofs only: no code declared
    allowed = allowed_classes(labels)
    run = type("Run", (), {"device": torch.device("cpu"), "amp": None})()
    anchor = ParentAnchor(Parent(), allowed, run, anchor_unknown=True)
    target = anchor.targets(torch.zeros(1, 3, 1, 2), torch.tensor([[[ROOF, IGNORE_INDEX]]]))
    assert target[0, 1:, 0, 0].sum() == 0  # a roof pixel: its label speaks
    unknown = target[0, 1:, 0, 1]
    assert float(unknown.sum()) == pytest.approx(1.0) and unknown.argmax() == BACKGROUND

    masks = target[:, 0].long()

    def gradient(anchored: bool) -> torch.Tensor:
        logits = torch.zeros(1, NUM_CLASSES, 1, 2)
        logits[0, ROOF] = 4.0  # the model calls both pixels roof
        logits.requires_grad_(True)
        extra = {"anchor": target[:, 1:]} if anchored else {}
        partial_label_loss(logits, masks, allowed, dice=False, **extra).backward()
        return logits.grad[0, :, 0, 1]  # the unknown pixel's

    free, anchored = gradient(False), gradient(True)
    assert float(free.abs().max()) < 1e-6  # without the anchor nothing holds the unknown pixel
    assert anchored[ROOF] > 0.1 and anchored[BACKGROUND] < -0.1  # descent: roof down, Background up
    plain = ParentAnchor(Parent(), allowed, run).targets(torch.zeros(1, 3, 1, 2), masks)
    assert float(plain[0, 1:].sum()) == 0  # with not-codes in the set, unknown pixels stay unanchored


def test_a_fine_tune_start_check_is_skipped_only_where_labels_say_not_a_class(tmp_path):
    from seg_core.schemes.scheme import builtin
    from seg_core.training.finetune import has_not_codes

    harvey = builtin("harvey")
    assert not has_not_codes(tmp_path, harvey)  # no sidecar: a full-label dataset
    write_partial_labels(tmp_path, PartialLabels())
    assert not has_not_codes(tmp_path, harvey)  # a sidecar that only declares 255 as unknown
    update_partial_labels(tmp_path, lambda labels: labels.set_labelled_only("IMG_1", [ROAD]))
    assert has_not_codes(tmp_path, harvey)


# --------------------------------------------------------------------------- "one of these classes"

GRASS, TREES, FOREST = 5, 6, 21


def test_a_one_of_code_allows_exactly_its_classes_and_round_trips(tmp_path):
    labels = PartialLabels()
    vegetation = labels.code_for_one_of([FOREST, GRASS, TREES, GRASS])
    assert labels.code_for_one_of([GRASS, TREES, FOREST]) == vegetation  # one code per set
    assert labels.allowed(vegetation) == (GRASS, TREES, FOREST)
    assert labels.allowed(ROAD) == (ROAD,)
    assert allowed_classes(labels)[vegetation].nonzero().view(-1).tolist() == [GRASS, TREES, FOREST]
    write_partial_labels(tmp_path, labels)
    again = read_partial_labels(tmp_path)
    assert again.allowed(vegetation) == (GRASS, TREES, FOREST)
    named = json.loads((tmp_path / PARTIAL_LABELS_FILE).read_text())["may_be_named"]
    assert named == {str(vegetation): ["Grass", "Trees/Shrubs", "Dense Vegetation/Forest"]}
    with pytest.raises(ValueError, match="every class says nothing: write 255"):
        labels.code_for_one_of(list(range(NUM_CLASSES)))
    with pytest.raises(ValueError, match="class ids in 0"):
        labels.code_for_one_of([])


def test_a_one_of_pixel_learns_the_set_without_choosing_among_its_members():
    """Labelled "vegetation" (one of Grass, Trees/Shrubs, Dense Vegetation): the loss is
    -log(p_grass + p_trees + p_forest); descent raises the three in proportion to what the model
    already believes of each (their ratios keep) and lowers every other class."""
    labels = PartialLabels()
    vegetation = labels.code_for_one_of([GRASS, TREES, FOREST])
    logits = _pixel([0.0] * NUM_CLASSES)
    logits[0, TREES], logits[0, FLOODED] = 2.0, 3.0
    target = torch.tensor([[[vegetation]]])
    allowed = allowed_classes(labels)
    loss = partial_label_loss(logits, target, allowed, ce=True, dice=False)
    probs = logits.softmax(1).view(-1)
    assert float(loss) == pytest.approx(-float(torch.log(probs[[GRASS, TREES, FOREST]].sum())), rel=1e-5)
    grad = _gradient(lambda z: partial_label_loss(z, target, allowed, ce=True, dice=False), logits)
    members = [GRASS, TREES, FOREST]
    ratio = grad[members] / probs[members]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), atol=1e-6) and ratio[0] < 0  # all up, alike
    assert grad[FLOODED] > 0 and grad[BACKGROUND] > 0  # the classes outside the set go down


def test_the_parent_anchor_chooses_within_a_one_of_set():
    """Where the label says only "vegetation", the parent's belief decides which kind: its
    probabilities renormalised over the set, nothing outside it."""
    from seg_core.training.partial import ParentAnchor

    class Parent(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], NUM_CLASSES, *x.shape[2:])
            out[:, FLOODED], out[:, GRASS] = 4.0, 2.0
            return out

    labels = PartialLabels()
    vegetation = labels.code_for_one_of([GRASS, TREES, FOREST])
    run = type("Run", (), {"device": torch.device("cpu"), "amp": None})()
    anchor = ParentAnchor(Parent(), allowed_classes(labels), run)
    silent = anchor.targets(torch.zeros(1, 3, 1, 1), torch.tensor([[[vegetation]]]))[0, 1:, 0, 0]
    assert float(silent.sum()) == pytest.approx(1.0)
    assert silent.nonzero().view(-1).tolist() == [GRASS, TREES, FOREST] and silent.argmax() == GRASS


def test_the_code_command_declares_a_one_of_or_none_of_value(tmp_path, capsys):
    from seg_core.cli import main

    (tmp_path / "images").mkdir()
    args = ["partial-labels", "code", str(tmp_path)]
    assert main([*args, "--one-of", "Grass", "Trees/Shrubs", "21", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["meaning"].endswith("one of Grass, Trees/Shrubs, Dense Vegetation/Forest")
    assert read_partial_labels(tmp_path).allowed(shown["value"]) == (GRASS, TREES, FOREST)
    assert main([*args, "--none-of", "Road/Highway"]) == 0
    assert capsys.readouterr().out.strip().endswith("none of Road/Highway (every other class stays possible)")
    assert main([*args, "--one-of", "Castle"]) == 2
    assert "unknown class 'Castle'" in capsys.readouterr().err
    assert main(["partial-labels", "code", str(tmp_path / "gone"), "--one-of", "Grass"]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    assert not (tmp_path / "gone").exists()
