"""Field benchmark: the torch-free ONNX Runtime path against torch, one 4000x3000 photo to a
full-size mask, each method in its own process (so its peak RSS is its own).

    python bench/field.py [--repeats 3]          (or: python bench/run.py --only field)
    python bench/field.py --memory-steps         ONNX Runtime's memory settings, one change at a time

Methods: the naive notebook way (bench/inference.py), the torch StormSeg Predictor, the
OnnxPredictor on the exported float model, and on its int8 copy. Both models: the shipped demo
model (FPN / EfficientNet-Lite0 at 640 px) and the default at 1024 px (ImageNet encoder, as in
section 1). The ONNX workers never import torch (checked and reported) and keep glibc's default
allocator, as `python -m seg_core predict --model` does (the torch ones reuse freed memory, as
`--checkpoint` does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from procstat import current_rss_mb, peak_rss_mb, run_worker  # noqa: E402

TORCH_METHODS = ("naive", "stormseg")
ONNX_METHODS = ("onnx", "onnx_int8")


def _torch_runner(method: str, model: Path, photo: Path):
    import torch
    from inference import naive_predict

    from seg_core.core.memory import reuse_freed_memory
    from seg_core.inference.predictor import Predictor

    if method != "naive":
        reuse_freed_memory()  # as `python -m seg_core predict` does
    predictor = Predictor.from_checkpoint(model)
    if method == "stormseg":
        return lambda: predictor.predict(photo)
    meta = predictor.meta
    net = predictor.model.to(memory_format=torch.contiguous_format)
    return lambda: naive_predict(net, photo, meta["resolution"], meta["mean"], meta["std"])


def worker(method: str, model: Path, photo: Path, repeats: int, memory: str = "") -> dict:
    if method in TORCH_METHODS:
        run = _torch_runner(method, model, photo)
    else:
        from seg_core.inference.onnx_predictor import OnnxPredictor, SessionMemory

        settings = SessionMemory(**json.loads(memory)) if memory else SessionMemory()
        predictor = OnnxPredictor.from_file(model, memory=settings)
        run = lambda: predictor.predict(photo)  # noqa: E731
    loaded = current_rss_mb()
    mask = run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mask = run()
        times.append(time.perf_counter() - start)
    return {
        "method": method,
        "median_s": statistics.median(times),
        "peak_rss_mb": peak_rss_mb(),
        "loaded_rss_mb": loaded,
        "shape": list(mask.shape),
        "mask_md5": hashlib.md5(mask.tobytes()).hexdigest(),
        "torch_imported": "torch" in sys.modules,
    }


def _models(tmp: Path) -> dict[str, dict]:
    """name -> {checkpoint, onnx, int8 (or None), resolution}."""
    from inference import make_checkpoint

    from seg_core.evaluation.scores import kaggle_dice
    from seg_core.inference.export import export_onnx
    from seg_core.inference.quantize import quantize_int8

    models = {}
    for name, checkpoint in (
        ("demo", ROOT / "checkpoints" / "demo" / "best.pt"),
        ("default", make_checkpoint(tmp / "default.pt", 1024)),
    ):
        onnx = Path(export_onnx(checkpoint, tmp / f"{name}.onnx").path)
        entry = {"checkpoint": checkpoint, "onnx": onnx, "int8": None, "int8_report": None}
        if name == "demo":  # only a trained model has an accuracy to lose
            report = quantize_int8(onnx, tmp / f"{name}.int8.onnx", score=kaggle_dice)
            entry["int8_report"] = report.as_dict()
            entry["int8"] = Path(report.path) if report.kept else None
        models[name] = entry
    return models


def run_benchmark(repeats: int = 3) -> dict:
    from inference import make_photo

    results: dict = {"repeats": repeats, "models": {}}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        photo = make_photo(tmp / "photo.jpg", 12.0)
        for name, entry in _models(tmp).items():
            rows = {}
            for method in TORCH_METHODS:
                rows[method] = run_worker(__file__, method, entry["checkpoint"], photo, repeats)
            rows["onnx"] = run_worker(__file__, "onnx", entry["onnx"], photo, repeats)
            if entry["int8"] is not None:
                rows["onnx_int8"] = run_worker(__file__, "onnx_int8", entry["int8"], photo, repeats)
            naive, torch_predictor, onnx = rows["naive"], rows["stormseg"], rows["onnx"]
            results["models"][name] = {
                "rows": rows,
                "int8": entry["int8_report"],
                "onnx_memory_vs_naive": onnx["peak_rss_mb"] / naive["peak_rss_mb"],
                "onnx_speed_vs_predictor": torch_predictor["median_s"] / onnx["median_s"],
            }
    return results


MEMORY_STEPS = (  # (what changed, SessionMemory fields), each applied on top of the one before
    (
        "no arena, memory pattern (until 2026-11-29)",
        {"arena": False, "memory_pattern": True, "shrink_arena": False},
    ),
    ("+ CPU arena", {"arena": True, "memory_pattern": True, "shrink_arena": False}),
    ("+ arena shrunk after each run", {"arena": True, "memory_pattern": True, "shrink_arena": True}),
    ("+ no memory pattern (default now)", {"arena": True, "memory_pattern": False, "shrink_arena": True}),
)


def memory_steps(repeats: int = 3, rounds: int = 2) -> dict:
    """The default model at 1024 px through OnnxPredictor under each of MEMORY_STEPS, each in a
    fresh process, `rounds` times interleaved (peak RSS is deterministic per setting; the
    seconds are not on a shared machine)."""
    from inference import make_checkpoint, make_photo

    from seg_core.inference.export import export_onnx

    rows: dict[str, list[dict]] = {label: [] for label, _ in MEMORY_STEPS}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        photo = make_photo(tmp / "photo.jpg", 12.0)
        onnx = export_onnx(make_checkpoint(tmp / "default.pt", 1024), tmp / "default.onnx").path
        for _ in range(rounds):
            for label, settings in MEMORY_STEPS:
                rows[label].append(run_worker(__file__, "onnx", onnx, photo, repeats, json.dumps(settings)))
    return {"repeats": repeats, "rounds": rounds, "rows": rows}


def render_memory_steps(m: dict) -> list[str]:
    lines = [
        f"**ONNX Runtime memory settings, one change at a time** (default model at 1024 px, one 12 MP photo, "
        f"`python bench/field.py --memory-steps`: each setting {m['rounds']} times in a fresh process, "
        f"median of {m['repeats']} after a warm-up)",
        "",
        "| setting | peak RSS MB | median s | mask |",
        "|---|---|---|---|",
    ]
    for label, runs in m["rows"].items():
        peaks = "/".join(f"{r['peak_rss_mb']:.0f}" for r in runs)
        seconds = "/".join(f"{r['median_s']:.2f}" for r in runs)
        lines.append(f"| {label} | {peaks} | {seconds} | {runs[0]['mask_md5'][:10]} |")
    return lines + [""]


BATCH_SETUPS = (  # (label, processes, threads per process)
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("2 processes x 1 thread (torchrun)", 2, 1),
)


def batch_throughput(photos: int = 16) -> dict:
    """Photos/s of `python -m seg_core predict` over a folder of 12 MP photos (demo model, all
    outputs written), wall time of the whole command including start-up and the merged summary."""
    import os
    import shutil
    import subprocess

    from inference import make_photo

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        source = make_photo(tmp / "source.jpg", 12.0)
        flight = tmp / "flight"
        flight.mkdir()
        for i in range(photos):
            shutil.copy(source, flight / f"frame{i:04d}.jpg")
        for label, processes, threads in BATCH_SETUPS:
            out = tmp / f"out-{processes}-{threads}"
            command = [
                "-m",
                "seg_core",
                "predict",
                "--checkpoint",
                str(ROOT / "checkpoints/demo/best.pt"),
                "--out",
                str(out),
                str(flight),
            ]
            if processes > 1:
                command = [
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc_per_node={processes}",
                    *command,
                ]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
            start = time.perf_counter()
            subprocess.run([sys.executable, *command], env=env, cwd=ROOT, check=True, capture_output=True)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "setup": label,
                    "processes": processes,
                    "threads": threads,
                    "seconds": seconds,
                    "photos_per_s": photos / seconds,
                }
            )
    base = rows[0]["photos_per_s"]
    return {
        "photos": photos,
        "rows": rows,
        "speedup_2proc": rows[2]["photos_per_s"] / base,
        "speedup_2threads": rows[1]["photos_per_s"] / base,
    }


def render_batch(b: dict) -> list[str]:
    lines = [
        "**Batch prediction throughput** (`predict` over a folder of "
        f"{b['photos']} photos of 4000x3000, demo model, every output written; wall time of the whole "
        "command, start-up and the merged summary included)",
        "",
        "| setup | seconds | photos/s |",
        "|---|---|---|",
    ]
    lines += [f"| {r['setup']} | {r['seconds']:.1f} | {r['photos_per_s']:.2f} |" for r in b["rows"]]
    lines += [
        "",
        f"- 2 processes x 1 thread vs 1 x 1: **{b['speedup_2proc']:.2f}x**; 1 process x 2 threads vs 1 x 1: "
        f"**{b['speedup_2threads']:.2f}x**",
        "",
    ]
    return lines


def render(r: dict) -> list[str]:
    labels = {
        "naive": "naive torch (notebook way)",
        "stormseg": "StormSeg Predictor (torch)",
        "onnx": "OnnxPredictor (ONNX Runtime, float)",
        "onnx_int8": "OnnxPredictor (ONNX Runtime, int8)",
    }
    lines = [
        "## 8. Field install: ONNX Runtime without torch",
        "",
        "One 4000x3000 JPEG to a full-size mask, each method in its own process, median of "
        f"{r['repeats']} after a warm-up (`python bench/run.py --only field`). Targets: the ONNX "
        "Runtime path at most 0.25x the naive way's peak memory and at least as fast as the torch Predictor.",
        "",
    ]
    for name, m in r["models"].items():
        title = (
            "demo model, FPN / EfficientNet-Lite0 at 640 px" if name == "demo" else "default model at 1024 px"
        )
        lines += [
            f"**{title}**",
            "",
            "| method | median s | peak RSS MB | imports torch |",
            "|---|---|---|---|",
        ]
        for method, row in m["rows"].items():
            lines.append(
                f"| {labels[method]} | {row['median_s']:.3f} | {row['peak_rss_mb']:.0f} | "
                f"{'yes' if row['torch_imported'] else 'no'} |"
            )
        memory, speed = m["onnx_memory_vs_naive"], m["onnx_speed_vs_predictor"]
        lines += [
            "",
            f"- ONNX peak memory vs naive: **{memory:.2f}x** (target <= 0.25x: {'met' if memory <= 0.25 else '**missed**'})",
            f"- ONNX speed vs torch Predictor: **{speed:.2f}x** (target >= 1x: {'met' if speed >= 1 else '**missed**'})",
        ]
        if m["int8"]:
            q = m["int8"]
            lines.append(
                f"- int8: Kaggle Dice {q['score_float']:.4f} -> {q['score_int8']:.4f} on {12} held-out synthetic "
                f"scenes, {q['pixel_agreement']:.1%} of pixels agree, {q['size_bytes'] / 1e6:.1f} MB vs "
                f"{q['float_size_bytes'] / 1e6:.1f} MB: {'kept as `export --int8`' if q['kept'] else 'not kept'}"
            )
        lines.append("")
    if "batch" in r:
        lines += render_batch(r["batch"])
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, method, model, photo, repeats, *memory = sys.argv
        print(json.dumps(worker(method, Path(model), Path(photo), int(repeats), *memory)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-only", action="store_true", help="only the batch throughput part")
    parser.add_argument("--memory-steps", action="store_true", help="only ONNX Runtime's memory settings")
    args = parser.parse_args()
    if args.memory_steps:
        steps = memory_steps(args.repeats)
        print(json.dumps(steps, indent=1, default=str))
        print("\n".join(render_memory_steps(steps)))
        return
    result = {} if args.batch_only else run_benchmark(args.repeats)
    result["batch"] = batch_throughput()
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(render_batch(result["batch"]) if args.batch_only else render(result)))


if __name__ == "__main__":
    main()
