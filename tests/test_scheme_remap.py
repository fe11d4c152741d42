"""Datasets of two schemes train together through a mapping file: the loader reads a RescueNet
dataset's masks as Harvey ids on the fly; without a mapping the mismatch is one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seg_core.datasets.dataset import ArrayCache, SegmentationDataset
from seg_core.datasets.discovery import validate_dataset
from seg_core.schemes.files import SchemeError
from seg_core.schemes.remap import dataset_remap
from seg_core.schemes.scheme import HARVEY, IGNORE_INDEX, RESCUENET

MAPPING = {
    "from": "rescuenet",
    "to": "harvey",
    "classes": {
        "Background": "background",
        "Property Roof": ["building-no-damage", "building-major-damage"],
        "Road/Highway": ["road-clear", "road-blocked"],
    },
}


def dataset(root: Path, mask: np.ndarray, scheme: str) -> Path:
    """One 8x6 photo with `mask`, its scheme named in classes.json."""
    (root / "train_images").mkdir(parents=True)
    (root / "train_masks").mkdir()
    Image.fromarray(np.full((6, 8, 3), 120, np.uint8)).save(root / "train_images" / "p.png")
    Image.fromarray(mask).save(root / "train_masks" / "p.png")
    (root / "classes.json").write_text(json.dumps({"scheme": scheme}))
    return root


@pytest.fixture
def two(tmp_path):
    harvey = np.zeros((6, 8), np.uint8)
    harvey[:3] = HARVEY.class_id("Swimming Pool")
    rescue = np.zeros((6, 8), np.uint8)
    rescue[0] = RESCUENET.class_id("building-major-damage")
    rescue[1] = RESCUENET.class_id("road-blocked")
    rescue[2] = RESCUENET.class_id("tree")  # the mapping leaves it out
    rescue[3] = 255  # RescueNet's unlabelled
    return dataset(tmp_path / "harvey", harvey, "harvey"), dataset(tmp_path / "rescue", rescue, "rescuenet")


def test_two_schemes_train_together_through_a_mapping(two, tmp_path):
    harvey_root, rescue_root = two
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    remaps, pairs = {}, []
    for root in (harvey_root, rescue_root):
        report = validate_dataset(root)
        table = dataset_remap(root, report.scheme, HARVEY, mapping)
        assert (table is None) == (root == harvey_root)  # the run's own scheme is read as it is
        remaps.update({pair.mask: table for pair in report.pairs if table is not None})
        pairs += report.pairs
    data = SegmentationDataset(pairs, ArrayCache(64, tmp_path / "cache"), [0.5] * 3, [0.5] * 3, remaps=remaps)
    harvey_mask, rescue_mask = (data[i][1].numpy() for i in range(2))
    assert (harvey_mask[:3] == HARVEY.class_id("Swimming Pool")).all() and (harvey_mask[3:] == 0).all()
    assert (rescue_mask[0] == HARVEY.class_id("Property Roof")).all()
    assert (rescue_mask[1] == HARVEY.class_id("Road/Highway")).all()
    assert (rescue_mask[2:4] == IGNORE_INDEX).all()  # unmapped tree and unlabelled: left out, not guessed
    assert (rescue_mask[4:] == 0).all()
    # the files on disk stay as they are
    assert np.asarray(Image.open(rescue_root / "train_masks" / "p.png"))[0, 0] == 4


def test_a_scheme_mismatch_without_a_mapping_is_one_sentence(two):
    _, rescue_root = two
    with pytest.raises(
        ValueError, match=r"rescue: its masks are in scheme rescuenet .* give --mapping MAPPING\.json"
    ):
        dataset_remap(rescue_root, RESCUENET, HARVEY, None)


def test_a_class_mapped_twice_is_refused(tmp_path):
    mapping = tmp_path / "twice.json"
    mapping.write_text(json.dumps({"classes": {"Property Roof": "tree", "Trees/Shrubs": "tree"}}))
    with pytest.raises(SchemeError, match=r"'tree' is mapped to both 'Property Roof' and 'Trees/Shrubs'"):
        dataset_remap(tmp_path, RESCUENET, HARVEY, mapping)


def test_a_run_trains_both_datasets_with_the_second_read_as_the_first_scheme(two, tmp_path, stormseg_home):
    from seg_core.runs.reporter import RunReporter
    from seg_core.training import setup
    from seg_core.training.distributed import ProcessGroup
    from seg_core.training.preflight import check_also_data
    from tests.test_train import tiny_config

    harvey_root, rescue_root = two
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    cfg = tiny_config(harvey_root, also_data=str(rescue_root), mapping=str(mapping), val_ratio=0.5)
    data = setup.prepare_data(cfg, setup.model_spec(cfg), RunReporter(None, "x", False), ProcessGroup())
    sets = [data.train_set, data.val_set]
    masks = {s.pairs[0].mask.parent.parent: s.arrays(0)[1] for s in sets}
    assert sorted(root.name for root in masks) == ["harvey", "rescue"]  # one in each split, 0.5 of 2
    rescue = next(m for root, m in masks.items() if root.name == "rescue")
    assert set(np.unique(rescue)) == {
        0,
        HARVEY.class_id("Property Roof"),
        HARVEY.class_id("Road/Highway"),
        255,
    }
    with pytest.raises(ValueError, match="give --mapping MAPPING.json"):
        check_also_data(cfg.with_updates(mapping=""), HARVEY)
    with pytest.raises(ValueError, match="no --also-data was given"):
        check_also_data(cfg.with_updates(also_data=""), HARVEY)


def test_the_cli_pre_labels_a_rescuenet_dataset_with_the_harvey_demo_model_by_role(stormseg_home, capsys):
    """`label prelabel --mapping roles`: the pre-labels hold RescueNet ids only, and the command
    says which Harvey class went where; without a mapping it refuses in one sentence."""
    from seg_core.cli import main
    from seg_core.demo.synth import write_demo_dataset
    from seg_core.labelling.labelstore import LabelStore

    root = stormseg_home / "data" / "rescue"
    write_demo_dataset(root, n=2, n_test=0, size=(128, 96), seed=7, scheme="rescuenet")
    store = LabelStore(root)
    for photo in store.photos():
        store.mask_path(photo.stem).unlink()
    assert main(["label", "prelabel", str(root), "--checkpoint", "demo"]) != 0
    assert "cannot pre-label rescue: the model predicts scheme harvey" in capsys.readouterr().err
    assert main(["label", "prelabel", str(root), "--checkpoint", "demo", "--mapping", "roles"]) == 0
    err = capsys.readouterr().err
    assert "harvey pre-labels carried into rescuenet by roles: Background → background" in err
    stems = [p.stem for p in store.photos()]
    assert stems and all(store.status(s).status == "pre-labelled" for s in stems)
    for stem in stems:
        mask = np.array(Image.open(store.prelabel_path(stem)))
        assert mask.shape == (96, 128) and mask.max() < RESCUENET.num_classes
