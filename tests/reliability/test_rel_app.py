"""The app under hostile inputs: poisoned, damaged and ill-fitting checkpoints in the model picker of
Segment and Evaluate, a hostile dataset on Data, a dataset folder linked out of the data root on Train,
such runs on Runs: never a traceback, always a sentence, and the app keeps working. Plus the server
settings that guard uploads (XSRF protection, upload limit), bounded caches that never key on uploaded
bytes, and no query parameters read from the URL.

Complements tests/app/ (a damaged model file on Segment and Evaluate, one bad upload among good ones).
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_pair, make_pairs
from hostile import non_images, png_claiming, save_tiny_checkpoint, tiny_meta, tiny_unet, truncated
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.models.checkpoint import save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue
from ui.pickers import MODEL_KEY

REPO = paths.REPO_ROOT
APP = REPO / "app.py"
MARKER_ENV = "STORMSEG_TEST_PWNED"


class TouchMarker:
    def __reduce__(self):
        return (os.system, (f'touch "{os.environ[MARKER_ENV]}"',))


def page(name: str) -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=90).switch_page(f"app_pages/{name}.py").run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "PWNED"
    monkeypatch.setenv(MARKER_ENV, str(path))
    return path


@pytest.fixture
def hostile_models(tmp_path, marker, monkeypatch) -> dict[str, Path]:
    """Completed runs whose best.pt is hostile, plus a good demo model: label -> checkpoint path."""
    good = save_tiny_checkpoint(tmp_path / "demo" / "best.pt")
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", good)
    registry = RunRegistry()
    models = {"good": good}
    writers = {
        "poisoned": lambda p: torch.save({"state_dict": {}, "meta": TouchMarker()}, p, pickle_module=pickle),
        "cut": lambda p: p.write_bytes(good.read_bytes()[:5000]),
        "empty": lambda p: p.write_bytes(b""),
        "random": lambda p: p.write_bytes(np.random.default_rng(3).bytes(4096)),
        "three classes": lambda p: save_checkpoint(
            {
                "state_dict": tiny_unet(3).state_dict(),
                "meta": tiny_meta(num_classes=3, class_names=["a"] * 3),
            },
            p,
        ),
        "lying weights": lambda p: save_checkpoint(
            {"state_dict": tiny_unet(3).state_dict(), "meta": tiny_meta()}, p
        ),
        "bad metadata": lambda p: save_tiny_checkpoint(p, resolution=0),
    }
    for score, (label, write) in enumerate(writers.items()):
        run = registry.create_run({"arch": "unet", "encoder": "none", "epochs": 1}, name=label)
        run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        write(run.checkpoint_dir / "best.pt")
        registry.set_best(run.id, 0.9 - score / 100, 1)
        registry.finish(run.id, "completed")
        models[label] = run.checkpoint_dir / "best.pt"
    return models


# What each hostile model's error sentence must say (it always names the file too).
EXPECTED_ERRORS = {
    "poisoned": "refused: the file contains objects other than tensors",
    "cut": "the checkpoint is damaged or not a PyTorch file",
    "empty": "the checkpoint file is empty",
    "random": "the checkpoint is damaged or not a PyTorch file",
    "three classes": "records 3 classes but no label scheme",
    "lying weights": "its weights do not fit a unet/none model",
    "bad metadata": "checkpoint metadata is not usable: resolution 0",
}
UNREADABLE = {"poisoned", "cut", "empty", "random", "bad metadata"}  # the summary cannot even be read


def choose_model(at, path: Path) -> None:
    """Pick the model of checkpoint `path` in the page's model picker (by id: a run's id, "demo")."""
    (box,) = [s for s in at.selectbox if (s.key or "").startswith(f"{MODEL_KEY}__")]
    box.set_value("demo" if path == paths.DEMO_CHECKPOINT else path.parent.name).run()


def png(width: int = 96, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)).save(
        buffer, "PNG"
    )
    return buffer.getvalue()


def test_segment_page_turns_every_hostile_model_into_a_sentence(hostile_models, marker):
    at = page("segment")
    assert not at.exception
    at.file_uploader[0].set_value([("photo.png", png(), "image/png")]).run()
    for label, path in hostile_models.items():
        if label == "good":
            continue
        choose_model(at, path)
        assert not at.exception, label
        (error,) = at.error
        assert error.value.startswith(f"{path}: ") and EXPECTED_ERRORS[label] in error.value, label
        if label in UNREADABLE:
            assert f"This checkpoint cannot be read: {path}" in texts(at.caption), label
        assert not at.metric, label
    choose_model(at, hostile_models["good"])  # still works
    assert not at.exception and not at.error and at.metric
    assert not marker.exists()


@pytest.fixture
def labelled(stormseg_home) -> Path:
    root = paths.data_root() / "labelled"
    make_pairs(root, 2)
    return root


def test_evaluate_page_turns_every_hostile_model_into_a_sentence(hostile_models, labelled, marker):
    at = page("evaluate")
    assert not at.exception
    for label, path in hostile_models.items():
        if label == "good":
            continue
        choose_model(at, path)
        if label in UNREADABLE:
            assert str(path) in texts(at.warning), label
        next(b for b in at.button if b.label == "Evaluate").click().run()
        assert not at.exception, label
        (error,) = at.error
        assert error.value.startswith(f"{path}: ") and EXPECTED_ERRORS[label] in error.value, label
        assert not at.metric, label
    choose_model(at, hostile_models["good"])
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert not at.exception and not at.error
    assert {m.label for m in at.metric} >= {"Kaggle Dice", "Photos scored"}
    assert not marker.exists()


def test_runs_page_lists_and_compares_runs_with_hostile_models(hostile_models, marker):
    at = page("runs")
    at.session_state["runs_table"] = {"selection": {"rows": list(range(len(hostile_models) - 1))}}
    at.run()
    assert not at.exception and not at.error
    assert not marker.exists()


def test_data_page_names_every_hostile_file_and_shows_the_good_pairs(stormseg_home, tmp_path):
    root = paths.data_root() / "hostile"
    for stem in ("good1", "good2", "cut", "bomb", "html", "labels", "a"):
        make_pair(root, stem, size=(96, 64), seed=len(stem))
    images, masks = root / "train_images", root / "train_masks"
    (images / "cut.png").write_bytes(truncated("PNG", 0.5))
    (images / "bomb.png").write_bytes(png_claiming(40000, 40000))
    (images / "html.png").write_bytes(non_images()["html"])
    Image.fromarray(np.full((64, 96), 99, np.uint8)).save(masks / "labels.png")
    Image.new("L", (96, 64)).save(masks / "a_mask.png")  # a second mask for a.png
    os.symlink(images / "loop.png", images / "loop.png")
    make_pair(tmp_path / "outside", "secret")
    os.symlink(tmp_path / "outside" / "train_images" / "secret.png", images / "secret.png")

    at = page("data")
    assert not at.exception and not at.error
    assert "2 labelled pairs usable" in at.warning[0].value
    files = set(at.dataframe[0].value["file"])
    expected = {"cut.png", "bomb.png", "html.png", "labels.png", "a_mask.png", "loop.png", "secret.png"}
    assert {Path(f).name for f in files} >= expected
    assert sorted(c for image in at.image for c in image.captions)[0].startswith("good1")


def test_train_page_refuses_a_dataset_linked_out_of_the_data_root(stormseg_home, tmp_path, monkeypatch):
    make_pair(tmp_path / "elsewhere", "p")
    paths.data_root().mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path / "elsewhere", paths.data_root() / "linked_out")
    launched = []
    monkeypatch.setattr(run_queue, "launch", lambda *args, **kwargs: launched.append(args))
    at = page("train")
    assert at.selectbox(key="train_form_dataset").value == "linked_out"
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    assert "Cannot start: dataset name 'linked_out' must be a folder directly under the data root" in texts(
        at.error
    )
    assert launched == [] and RunRegistry().list() == []


# --- server settings, caches, URL ---------------------------------------------------------------------


def test_server_config_keeps_xsrf_protection_and_limits_uploads():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True  # Streamlit turns XSRF off when CORS is off
    limit_mb = server["maxUploadSize"]
    assert isinstance(limit_mb, int) and 45 <= limit_mb <= 1024  # an uncompressed Harvey TIFF is ~42 MB
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"  # no Deploy / Clear cache for analysts
    assert config["browser"]["gatherUsageStats"] is False
    assert config["theme"]["primaryColor"]
    # one script run per session at a time: pages keep work lists and pickers in session state
    assert config["runner"]["fastReruns"] is False


APP_SOURCES = [APP, *sorted((REPO / "app_pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
UPLOAD_TYPES = ("bytes", "BytesIO", "UploadedFile", "PhotoInput", "BinaryIO", "ndarray", "Image")


def cache_uses() -> list[tuple[str, str, ast.AST, ast.FunctionDef | None]]:
    """Every st.cache_data / st.cache_resource use: (file, kind, the call, or the bare attribute when
    used without arguments, and the function it decorates, if any)."""
    uses = []
    for source in APP_SOURCES:
        tree = ast.parse(source.read_text())
        calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
        decorated = {
            id(decorator): function
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for decorator in function.decorator_list
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource"):
                use = calls.get(id(node), node)
                uses.append((source.name, node.attr, use, decorated.get(id(use))))
    return uses


def test_every_streamlit_cache_is_bounded_and_never_keyed_on_uploads():
    uses = cache_uses()
    assert len(uses) >= 4, uses  # the test must find the caches it is about
    for file, kind, node, function in uses:
        where = f"{file}:{node.lineno} st.{kind}"
        assert isinstance(node, ast.Call), f"{where} without arguments is unbounded"
        options = {k.arg: k.value for k in node.keywords}
        assert "max_entries" in options, f"{where} needs max_entries"
        entries = ast.literal_eval(options["max_entries"])
        assert isinstance(entries, int) and 1 <= entries <= 64, where
        if kind == "cache_data":
            assert "ttl" in options, f"{where} needs a ttl"
        assert function is not None, f"{where} is not used as a decorator"
        for arg in function.args.args:
            annotation = ast.unparse(arg.annotation) if arg.annotation else ""
            assert not any(t in annotation for t in UPLOAD_TYPES), (
                f"{where}: argument {arg.arg}: {annotation}"
            )
            assert arg.arg not in ("data", "upload", "uploads", "photo", "image", "source"), where


def test_the_app_reads_one_query_parameter_only_as_a_known_model_id(hostile_models):
    """Pages take ids and names from pickers fed by the registry and the data root. The one URL
    parameter read is `?model=<id>` (Runs' "Use this model" links), in ui/pickers.py, and only
    as one of the listed models' ids; a page that starts reading another must validate it
    (runs.validate_run_id, catalog.resolve_dataset) and extend the tests here."""
    for source in APP_SOURCES:
        text = source.read_text().replace("query_params=", "")  # st.page_link's argument writes a link
        if source.name == "pickers.py":
            assert text.count("st.query_params") == 2, source  # get ?model= and drop it
            continue
        assert "query_params" not in text and "experimental_get_query_params" not in text, source
    for asked, expected in (
        ("../../etc/passwd", "demo"),
        (hostile_models["lying weights"].parent.name, None),
    ):
        app = AppTest.from_file(str(APP), default_timeout=90)
        app.query_params["model"] = asked
        at = app.switch_page("app_pages/segment.py").run()
        assert not at.exception
        (box,) = [s for s in at.selectbox if (s.key or "").startswith(f"{MODEL_KEY}__")]
        assert box.value == (expected or asked)  # an unknown id is ignored, a listed one chosen
