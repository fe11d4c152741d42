"""Fine-tuning across label schemes: keep encoder and decoder, start a new head from mapped classes."""

from __future__ import annotations

import json

import pytest
import torch

from seg_core.models import ModelSpec, create_model
from seg_core.schemes.files import SchemeError
from seg_core.schemes.mapping import mapping_by_roles, read_mapping
from seg_core.schemes.scheme import FLOODNET, HARVEY, RESCUENET
from seg_core.training.heads import HEAD_PREFIX, head_plan, load_parent_weights


def tiny(scheme) -> torch.nn.Module:
    return create_model(
        ModelSpec(arch="unet", weights="none", unet_base_width=4, num_classes=scheme.num_classes), False
    )


def test_rescuenet_classes_start_from_harvey_classes_of_the_same_role():
    mapping = mapping_by_roles(HARVEY, RESCUENET)
    named = mapping.to_dict()
    for damaged in ("building-no-damage", "building-minor-damage", "building-total-destruction"):
        assert named[damaged] == ["Property Roof"]
    assert named["road-clear"] == named["road-blocked"] == ["Road/Highway"]
    assert named["tree"] == ["Grass", "Trees/Shrubs", "Dense Vegetation/Forest"]
    assert named["water"] == ["Water Body"] and named["vehicle"] == ["Vehicle"]
    # FloodNet's flooded road has no flooded-road class in Harvey: it starts from Harvey's road.
    assert mapping_by_roles(HARVEY, FLOODNET).to_dict()["road-flooded"] == ["Road/Highway"]
    assert mapping.describe() == "11 of 11 rescuenet classes start from harvey classes (roles)"


def test_a_scheme_mismatch_without_a_new_head_is_one_sentence():
    assert head_plan(HARVEY, HARVEY, "", "parent.pt") is None
    with pytest.raises(ValueError) as caught:
        head_plan(HARVEY, RESCUENET, "", "parent.pt")
    message = str(caught.value)
    assert message.startswith("parent.pt: predicts harvey (25 classes) but the dataset's masks are rescuenet")
    assert "--new-head roles" in message and "\n" not in message
    with pytest.raises(ValueError, match="--new-head 'sideways' is not one of roles, fresh"):
        head_plan(HARVEY, RESCUENET, "sideways", "parent.pt")


def test_the_new_head_keeps_the_body_and_starts_mapped_rows_from_the_parent(tmp_path):
    torch.manual_seed(0)
    parent = tiny(HARVEY).state_dict()
    child = tiny(RESCUENET)
    fresh = {k: v.clone() for k, v in child.state_dict().items()}
    mapping_file = tmp_path / "map.json"
    mapping_file.write_text(
        json.dumps(
            {
                "from": "harvey",
                "to": "rescuenet",
                "classes": {"tree": ["Trees/Shrubs", "Grass"], "pool": "Swimming Pool"},
            }
        )
    )
    plan = head_plan(HARVEY, RESCUENET, str(mapping_file), "parent.pt")
    logged = []
    load_parent_weights(child, parent, plan, logged.append)
    loaded = child.state_dict()
    body = [k for k in parent if not k.startswith(HEAD_PREFIX)]
    assert body and all(torch.equal(loaded[k], parent[k]) for k in body)
    weight = HEAD_PREFIX + "weight"
    tree, pool, water = RESCUENET.class_id("tree"), RESCUENET.class_id("pool"), RESCUENET.class_id("water")
    expected_tree = (
        parent[weight][HARVEY.class_id("Trees/Shrubs")] + parent[weight][HARVEY.class_id("Grass")]
    ) / 2
    assert torch.allclose(loaded[weight][tree], expected_tree)
    assert torch.equal(loaded[weight][pool], parent[weight][HARVEY.class_id("Swimming Pool")])
    assert torch.equal(loaded[weight][water], fresh[weight][water])  # unmapped: as initialised
    assert logged == [f"new head: 2 of 11 rescuenet classes start from harvey classes ({mapping_file})"]


def test_a_mapping_file_naming_wrong_classes_or_schemes_says_each(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps({"from": "floodnet", "classes": {"roof": ["Property Roof"], "tree": ["Palm"]}})
    )
    with pytest.raises(SchemeError) as caught:
        read_mapping(path, HARVEY, RESCUENET)
    assert caught.value.problems == [
        "\"from\" is 'floodnet' but the parent scheme is 'harvey'",
        "'roof' is not a class of the target scheme 'rescuenet'",
        "'Palm' is not a class of the source scheme 'harvey'",
    ]


def test_keeping_the_head_loads_everything_and_a_wrong_model_is_one_sentence():
    parent = tiny(HARVEY).state_dict()
    same = tiny(HARVEY)
    load_parent_weights(same, parent, None, print)
    assert all(torch.equal(same.state_dict()[k], v) for k, v in parent.items())
    with pytest.raises(ValueError, match="its weights do not fit this model"):
        load_parent_weights(tiny(RESCUENET), parent, None, print)
