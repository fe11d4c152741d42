"""The command line as users run it: predict (a bad file among good ones), evaluate, runs, study."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image
from test_infer import _meta
from test_train import tiny_config

from seg_core.cli import main
from seg_core.jobs.process import is_process_alive
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import load_checkpoint, save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.services.study import run_study
from seg_core.training import queue as run_queue
from seg_core.training.study import study_configs


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    return save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(resolution=64)}, tmp_path / "m.pt"
    )


def test_predict_processes_good_files_and_names_the_bad_one(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, size in [("a.jpg", (120, 90)), ("b.png", (77, 131))]:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8)).save(
            photos / name
        )
    (photos / "broken.jpg").write_bytes(b"<html>404</html>")
    out = tmp_path / "out"
    code = main(["predict", "--checkpoint", str(checkpoint), "--out", str(out), "--gsd", "3", str(photos)])
    captured = capsys.readouterr()
    assert code == 0
    assert "broken.jpg" in captured.err and "not a supported image" in captured.err
    assert "2 image(s) segmented" in captured.out and "1 skipped" in captured.out
    assert "predict [####################] 3/3" in captured.err  # the progress bar counts every file
    bar, skipped = captured.err.splitlines()[1:3]  # a.jpg and b.png done; broken.jpg sorts last
    assert bar.startswith("predict [") and " 2/3 " in bar and skipped.startswith("skipped: ")
    assert "flooded" in captured.out and "roofs" in captured.out  # the batch summary
    mask = np.asarray(Image.open(out / "b_mask.png"))
    assert mask.shape == (131, 77)
    assert (out / "a_overlay.jpg").is_file() and (out / "stats.csv").read_text().count("\n") >= 3
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["images"]) == 2 and "summary" in stats
    # A checkpoint without an uncertainty reference: the check says it is unavailable, no crash.
    assert "familiarity: unavailable" in captured.out
    assert {i["familiarity"]["status"] for i in stats["images"]} == {"unavailable"}
    assert "familiarity_distance" in (out / "stats.csv").read_text().splitlines()[0]


def test_a_skipped_file_on_a_terminal_replaces_the_half_drawn_bar():
    import io

    from seg_core.core.progress import ConsoleProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = ConsoleProgress("predict", stream)
    progress(1, 3)
    progress.note("skipped: x.jpg: not a supported image")
    progress(2, 3)
    drawn = stream.getvalue()
    assert drawn.startswith("\rpredict [######..............] 1/3")
    assert "\r\033[Kskipped: x.jpg: not a supported image\n\rpredict [" in drawn  # own line, bar redrawn


def test_predict_with_only_bad_input_exits_2(checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(tmp_path / "o"),
                str(tmp_path / "missing.jpg"),
            ]
        )
        == 2
    )
    assert "missing.jpg: file not found" in capsys.readouterr().err
    assert (
        main(["predict", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o"), "x.jpg"])
        == 2
    )
    assert "nope.pt: checkpoint not found" in capsys.readouterr().err


def test_evaluate_prints_scores_and_json(checkpoint, tiny_dataset, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "all" and result["images"] == 6
    assert 0.0 <= result["kaggle_dice"] <= 1.0 and len(result["per_class"]) == 25
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_dataset)]) == 0
    assert "Kaggle Dice" in capsys.readouterr().out


def test_runs_list_show_compare(capsys):
    registry = RunRegistry()
    run = registry.create_run(
        {"arch": "unet", "optimizer": "sgd", "augment": "none", "epochs": 2}, name="study a"
    )
    registry.log_metrics(
        run.id,
        [
            (1, 1, "train", "loss", 1.5),
            (1, 1, "val", "loss", 1.7),
            (1, 1, "val", "miou", 0.3),
            (1, 1, "train_full", "loss", 1.4),
        ],
    )
    registry.set_best(run.id, 0.62, 1)
    registry.finish(run.id, "completed")
    assert main(["runs", "list"]) == 0
    assert "study a" in capsys.readouterr().out
    assert main(["runs", "compare", run.id, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["runs"][0]
    assert row["optimizer"] == "sgd" and row["train_full_loss"] == 1.4 and row["best_val_dice"] == 0.62
    assert main(["runs", "show", "../etc"]) == 2
    assert "invalid run id" in capsys.readouterr().err


def test_runs_compare_prints_table_1_and_show_prints_the_run(capsys):
    registry = RunRegistry()
    ids = []
    for optimizer, augment, dice in (("sgd", "none", 0.55), ("adam", "seed", 0.61)):
        run = registry.create_run(
            {"arch": "unet", "optimizer": optimizer, "augment": augment}, name=optimizer
        )
        rows = [(2, 1, "train", "loss", 1.2), (2, 1, "val", "loss", 1.3), (2, 1, "val", "miou", 0.25)]
        registry.log_metrics(run.id, [*rows, (2, 1, "train_full", "loss", 1.1)])
        registry.set_best(run.id, dice, 1)
        registry.log(run.id, f"done: best val Kaggle Dice {dice}")
        registry.finish(run.id, "completed")
        ids.append(run.id)
    assert main(["runs", "compare", *ids]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    # The study's Table 1: optimiser, augmentation, train loss, val loss, loss on the entire
    # training set, val Dice; plus mIoU and wall time.
    assert header.split() == [
        "name",
        "arch",
        "optimizer",
        "augmentation",
        "final_train_loss",
        "val_loss",
        "train_full_loss",
        "best_val_dice",
        "val_miou_at_best",
        "wall_time_s",
        "status",
    ]
    first = lines[0].split()
    assert first[:9] == ["sgd", "unet", "sgd", "none", "1.2000", "1.3000", "1.1000", "0.5500", "0.2500"]
    assert first[-1] == "completed"
    assert lines[1].split()[2:4] == ["adam", "seed"] and "0.6100" in lines[1]
    assert main(["runs", "show", ids[1]]) == 0
    shown = capsys.readouterr().out
    assert (
        "status: completed" in shown
        and "best_metric: 0.61" in shown
        and "done: best val Kaggle Dice 0.61" in shown
    )


def test_runs_show_reports_a_dead_trainer_as_interrupted(capsys):
    import subprocess
    import sys

    registry = RunRegistry()
    run = registry.create_run({"arch": "unet"}, name="killed")
    while True:  # a pid that has exited and is not reused yet (pid_max can be 32768)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        registry.mark_running(run.id, gone.pid, "cpu")
        if not is_process_alive(gone.pid):
            break
    assert main(["runs", "show", run.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "interrupted"


def test_study_configs_follow_the_study_and_say_when_imagenet_is_missing(tmp_path):
    configs = study_configs(tmp_path, imagenet=False)
    assert [c.optimizer for c in configs] == ["sgd", "adam", "adam", "adam"]
    assert [c.epochs for c in configs] == [20, 20, 30, 60]
    assert [c.lr for c in configs] == [5e-4, 5e-4, 1e-3, 1e-3]
    assert [c.augment for c in configs] == ["none", "none", "none", "seed"]
    assert {c.loss for c in configs} == {"ce"} and configs[2].encoder == "resnet50"
    assert all("from scratch" in c.name for c in configs[2:]) and configs[2].weights == "none"
    assert [c.epochs for c in study_configs(tmp_path, epochs=3, imagenet=True)] == [3, 3, 3, 3]
    assert study_configs(tmp_path, imagenet=True)[3].weights == "imagenet"


@pytest.fixture
def signal_handlers_restored():
    """`study` installs SIGINT/SIGTERM handlers in this process; put pytest's back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.slow
def test_study_queues_four_runs_one_at_a_time_and_prints_table_1(
    tiny_dataset, capsys, signal_handlers_restored
):
    registry = RunRegistry()
    # A job already running: the study queues behind it instead of training beside it.
    busy = run_queue.submit(tiny_config(tiny_dataset, epochs=20, name="busy"), registry)
    assert busy.started
    flags = ["--epochs", "1", "--resolution", "48", "--crop", "32", "--batch-size", "2"]
    code = main(["study", "--data", str(tiny_dataset), *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ImageNet weights for ResNet50 cannot be downloaded here" in out
    assert "position 1 behind busy" in out
    runs = sorted(registry.list(), key=lambda r: r.started_at)
    assert [r.name for r in runs][0] == "busy" and len(runs) == 5
    assert {r.status for r in runs} == {"completed"}
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.ended_at <= later.started_at  # never two jobs at once
    assert len({r.pid for r in runs} | {os.getpid()}) == 6  # each in its own background process
    assert [r.config["optimizer"] for r in runs[1:]] == ["sgd", "adam", "adam", "adam"]
    assert "[U-Net + SGD] done: best val Kaggle Dice" in out  # the jobs' logs are followed
    table = out[out.index("final_train_loss") :]
    assert "U-Net + SGD" in table and "DeepLabV3+ (augmentation)" in table and "completed" in table


@pytest.mark.slow
def test_stopping_the_study_stops_its_job_and_empties_its_queue(tiny_dataset, signal_handlers_restored):
    registry = RunRegistry()
    lines = []

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("[U-Net + SGD] training unet"):  # the first job is training: Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)

    rows = run_study(tiny_dataset, epochs=500, resolution=48, crop=32, batch_size=2, poll_s=0.2, echo=echo)
    assert [r["status"] for r in rows] == ["stopped"] * 4, lines
    first, *waiting = (registry.get(r["id"]) for r in rows)
    assert "train_state" in load_checkpoint(first.checkpoint_dir / "last.pt")  # resumable
    assert all(r.started_at is None and "study was stopped" in r.error for r in waiting)
    assert any("SIGINT received: stopping the study" in line for line in lines)
