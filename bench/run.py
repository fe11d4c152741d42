"""The StormSeg benchmarks of sections 1-8 in one run; writes docs/BENCHMARKS.md (whole),
docs/benchmarks.json and docs/scaling.html (plotly). The analysis and the other benchmarks are
hand-written in docs/benchmarks-analysis.md, which this never touches.

    python bench/run.py [--quick] [--only inference,training,hardware,dataset,scaling,app,models,field]

Numbers are medians of repeated runs on this machine; every ratio compares two methods measured
in the same run. Nothing here is asserted: targets are reported as met or missed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DOCS = ROOT / "docs"
SECTIONS = ("inference", "training", "hardware", "dataset", "scaling", "app", "models", "field")
# This script rewrites BENCHMARKS.md whole (sections 1-8); what people write about the figures
# lives on its own page, numbered on from 9, so a re-run drops nothing.
ANALYSIS_NOTE = (
    "The hand-written analysis of these figures, and the benchmarks that `bench/run.py` does not run "
    "(labelling, orthomosaics, buildings, the GPU check, ...), are on the "
    "[analysis page](benchmarks-analysis.md), numbered on from this page's sections 1-8, so a "
    "re-run of `bench/run.py` rewrites this page and drops nothing."
)


def machine() -> dict:
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import segmentation_models_pytorch as smp

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "smp": smp.__version__,
        "date": datetime.date.today().isoformat(),
    }


def scaling(quick: bool) -> dict:
    import statistics
    import time

    import torch
    from inference import make_checkpoint, make_photo, measure

    from seg_core.models import ModelSpec, create_model
    from seg_core.training.losses import create_loss

    sizes = (1, 3) if quick else (1, 3, 6, 12)
    inference_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint(Path(tmp) / "m.pt", 1024)
        for mp in sizes:
            photo = make_photo(Path(tmp) / f"p{mp}.jpg", mp)
            result = measure("stormseg", checkpoint, photo, 2 if quick else 3)
            inference_rows.append(
                {"megapixels": mp, "seconds": result["median_s"], "peak_rss_mb": result["peak_rss_mb"]}
            )
    from seg_core.core.memory import reuse_freed_memory

    reuse_freed_memory()  # StormSeg's training step as `python -m seg_core train` runs it
    model = create_model(ModelSpec(), load_weights=False).train().to(memory_format=torch.channels_last)
    criterion = create_loss("ce_dice")
    optimizer = torch.optim.AdamW(model.parameters())
    training_rows = []
    for batch in (1, 2, 4) if quick else (2, 4, 8):
        batch = max(batch, 2)  # DeepLabV3+ needs two images per batch
        x = torch.randn(batch, 3, 512, 512).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 25, (batch, 512, 512))
        times = []
        for _ in range(2 if quick else 3):
            start = time.perf_counter()
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        training_rows.append({"batch": batch, "images_per_s": batch / statistics.median(times)})
    return {"inference": inference_rows, "training": training_rows}


def write_figure(scaling_result: dict) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("Inference: seconds per photo", "Training: images/s")
    )
    inf = scaling_result["inference"]
    figure.add_trace(
        go.Scatter(
            x=[r["megapixels"] for r in inf],
            y=[r["seconds"] for r in inf],
            mode="lines+markers",
            name="inference",
        ),
        row=1,
        col=1,
    )
    tr = scaling_result["training"]
    figure.add_trace(
        go.Bar(x=[str(r["batch"]) for r in tr], y=[r["images_per_s"] for r in tr], name="training"),
        row=1,
        col=2,
    )
    figure.update_xaxes(title_text="megapixels", row=1, col=1)
    figure.update_xaxes(title_text="batch size (512 px crops)", row=1, col=2)
    figure.write_html(DOCS / "scaling.html", include_plotlyjs="cdn")


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**missed**"


def dominated_by(rows: dict, key: str) -> list[str]:
    """The trained candidates both faster and more accurate than `key` (it is off the frontier)."""
    me = rows[key]
    return [
        other
        for other, row in rows.items()
        if other != key
        and row["speed"]["median_s"] < me["speed"]["median_s"]
        and row["training"]["best_val_dice"] > me["training"]["best_val_dice"]
    ]


def render_models(r: dict) -> list[str]:
    height, width = r["input"]
    rows = r["candidates"]
    lines = [
        "## 7. Model choice: accuracy against CPU speed",
        "",
        f"Forward pass of one {width}x{height} input (a 4000x3000 photo at the default working "
        f"resolution), batch 1, as the Predictor runs it (BatchNorms folded, channels_last, "
        f"inference_mode); median of {r['repeats']} after 2 warm-ups, each model in its own process. "
        f"Accuracy: `python -m seg_core train` with the demo model's recipe (640 px, 320 px crops, "
        f"batch 8, lr 3e-3, seed augmentation) for **{r['epochs']} epochs** on one synthetic data set "
        "(`demo-data --n 40 --size 640x480 --seed 7`: 34 training, 6 validation photos), each model in "
        "its own STORMSEG_HOME; val figures are those of the best epoch.",
        "",
        "| model | weights | parameters M | forward s | best val Kaggle Dice | val mIoU | "
        "train img/s | training wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    default_key = default_candidate(rows)
    rows = {
        k: {**v, "label": v["label"] + (" (default)" if k == default_key else "")} for k, v in rows.items()
    }
    for row in rows.values():
        t = row.get("training")
        accuracy = (
            f"{t['best_val_dice']:.3f} | {t['val_miou_at_best']:.3f} | {t['train_images_per_s']:.2f} | "
            f"{t['run_wall_s']:.0f}"
            if t
            else "speed only | - | - | -"
        )
        weights = "ImageNet (offline)" if row["weights"] == "auto" else "none (random init)"
        lines.append(
            f"| {row['label']} | {weights} | {row['parameters'] / 1e6:.1f} | "
            f"{row['speed']['median_s']:.3f} | {accuracy} |"
        )
    trained = {k: v for k, v in rows.items() if "training" in v}
    fastest = min(rows, key=lambda k: rows[k]["speed"]["median_s"])
    fastest_trained = min(trained, key=lambda k: trained[k]["speed"]["median_s"])
    best = max(trained, key=lambda k: trained[k]["training"]["best_val_dice"])
    default = rows[default_key]
    lines += [
        "",
        f"- fastest: **{rows[fastest]['label']}** ({rows[fastest]['speed']['median_s']:.3f} s)"
        + (
            ""
            if fastest == fastest_trained
            else f"; fastest of the trained ones: {trained[fastest_trained]['label']} "
            f"({trained[fastest_trained]['speed']['median_s']:.3f} s)"
        ),
        f"- most accurate at this budget: **{trained[best]['label']}** (val Kaggle Dice "
        f"{trained[best]['training']['best_val_dice']:.3f}"
        + ("" if best == default_key else f", default {default['training']['best_val_dice']:.3f}")
        + ")",
    ]
    beaten = dominated_by(trained, default_key)
    frontier = [rows[k]["label"] for k in trained if not dominated_by(trained, k)]
    lines += [
        "- the default is "
        + (
            "**beaten** on both counts by " + ", ".join(rows[k]["label"] for k in beaten)
            if beaten
            else "**on the trade-off frontier** (no trained candidate is both faster and more accurate)"
        )
        + f"; frontier: {'; '.join(frontier)}",
        *(
            [
                f"- the default against the fastest trained one: "
                f"{default['speed']['median_s'] / rows[fastest_trained]['speed']['median_s'] - 1:.0%} more "
                f"forward time, {default['training']['best_val_dice'] - rows[fastest_trained]['training']['best_val_dice']:.3f} "
                f"higher val Kaggle Dice after {r['epochs']} epochs"
            ]
            if best == default_key and fastest_trained != default_key
            else []
            if best == default_key
            else [
                f"- the default against the most accurate: "
                f"{1 - default['speed']['median_s'] / rows[best]['speed']['median_s']:.0%} less forward "
                f"time, {rows[best]['training']['best_val_dice'] - default['training']['best_val_dice']:.3f} "
                f"lower val Kaggle Dice after {r['epochs']} epochs (whether the gap holds with longer "
                "training is not measured here)"
            ]
        ),
        "- ResNet-18 is trained from scratch: the only ImageNet weights available offline are "
        "EfficientNet-Lite0's. The classic U-Net is timed only, left out of the training budget "
        f"(its forward pass alone takes "
        f"{rows['classic-unet']['speed']['median_s'] / default['speed']['median_s']:.1f}x the default's).",
        "- 6 validation photos and one seed: Dice differences of a few hundredths are within noise.",
        *long_run_line(r.get("long_run"), rows),
        "",
    ]
    return lines


def long_run_line(long_run: dict | None, rows: dict) -> list[str]:
    """The full-length confirmation run(s), when recorded: {"epochs": N, "best_val_dice": {key: x}}."""
    if not long_run:
        return []
    scores = ", ".join(f"{rows[k]['label']} {dice:.3f}" for k, dice in long_run["best_val_dice"].items())
    return [f"- at {long_run['epochs']} epochs (the demo model's full recipe): best val Kaggle Dice {scores}"]


def default_candidate(rows: dict) -> str:
    """The key of the candidate that `ModelSpec()` builds (the shipped default)."""
    from seg_core.models import ModelSpec

    spec = ModelSpec()
    return next(
        k
        for k, v in rows.items()
        if (v["arch"], v["encoder"], v["weights"]) == (spec.arch, spec.encoder, "auto")
    )


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# StormSeg benchmarks",
        "",
        f"Generated by `python bench/run.py` on {m['date']}: {m['cpu']}, {m['cores']} cores "
        f"({m['torch_threads']} torch threads), GPU: {m['gpu'] or 'none'}; Python {m['python']}, "
        f"torch {m['torch']}, smp {m['smp']}. Medians of repeated runs; ratios compare methods measured "
        "in the same run.",
        "",
        ANALYSIS_NOTE,
        "",
    ]
    if "inference" in results:
        r = results["inference"]
        fast, naive, forward = (r["results"][k] for k in ("stormseg", "naive", "forward"))
        lines += [
            "## 1. Inference: one 4000x3000 photo, decode to full-size mask",
            "",
            f"Default model (FPN / EfficientNet-Lite0), working resolution {r['resolution']} px, "
            f"{r['repeats']} repeats after a warm-up, each method in its own process.",
            "",
            "| method | median s | megapixels/s | peak RSS MB | RSS with model loaded MB | working MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in (
            ("StormSeg Predictor", fast),
            ("naive (notebook way)", naive),
            ("forward pass alone", forward),
        ):
            loaded = row.get("loaded_rss_mb")
            memory = f"{loaded:.0f} | {row['peak_rss_mb'] - loaded:.0f}" if loaded else "- | -"
            lines.append(
                f"| {name} | {row['median_s']:.3f} | {r['megapixels'] / row['median_s']:.1f} | "
                f"{row['peak_rss_mb']:.0f} | {memory} |"
            )
        lines += [
            "",
            f"- speed-up vs naive: **{r['speedup_vs_naive']:.2f}x** (target >= 3x: "
            f"{verdict(r['speedup_vs_naive'], 3)})",
            f"- peak RSS, decode to full-size mask of the {r['megapixels']:.0f} MP photo: "
            f"**{fast['peak_rss_mb']:.0f} MB** (target < 1.5 GB: {verdict(fast['peak_rss_mb'], 1500, False)})",
            f"- peak memory vs naive: **{r['memory_vs_naive']:.2f}x** (target <= 0.4x: "
            f"{verdict(r['memory_vs_naive'], 0.4, False)})",
            *(
                [
                    f"- working memory (peak above the loaded model) vs naive: "
                    f"**{r['working_memory_vs_naive']:.2f}x**"
                ]
                if "working_memory_vs_naive" in r
                else []
            ),
            f"- end to end vs forward pass alone: **{r['vs_forward_alone']:.2f}x** (target <= 1.5x: "
            f"{verdict(r['vs_forward_alone'], 1.5, False)})",
            "",
        ]
    if "training" in results:
        r = results["training"]
        lines += [
            "## 2. Training throughput (CPU, default settings)",
            "",
            "| loop | images/s | data-wait share |",
            "|---|---|---|",
            f"| StormSeg (cache) | {r['stormseg']['images_per_s']:.2f} | {r['stormseg']['data_wait_fraction']:.1%} |",
            f"| naive (re-decode every epoch) | {r['naive']['images_per_s']:.2f} | "
            f"{r['naive']['data_wait_fraction']:.1%} |",
            "",
            f"- speed-up: **{r['speedup']:.2f}x** (target >= 2x: {verdict(r['speedup'], 2)}); data wait "
            f"{r['stormseg']['data_wait_fraction']:.1%} (target < 10%: "
            f"{verdict(r['stormseg']['data_wait_fraction'], 0.10, False)})",
            "",
        ]
    if "hardware" in results:
        lines += [
            "## 3. How close to the hardware",
            "",
            "| how the model runs | GFLOP/forward (512x512) | forward ms | achieved GFLOP/s | "
            "matmul peak GFLOP/s | share of peak | compile s |",
            "|---|---|---|---|---|---|---|",
        ]
        for variant, row in results["hardware"].items():
            compile_s = f"{row['compile_s']:.0f}" if row.get("compile_s") else "-"
            lines.append(
                f"| {row.get('label', variant)} | {row['gflop_per_forward']:.2f} | {row['forward_ms']:.0f} | "
                f"{row['achieved_gflops']:.1f} | {row['matmul_peak_gflops']:.1f} | "
                f"{row['fraction_of_peak']:.0%} | {compile_s} |"
            )
        best = max(row["fraction_of_peak"] for row in results["hardware"].values())
        lines += ["", f"- best: **{best:.0%}** of peak (target >= 70%: {verdict(best, 0.70)})", ""]
    if "dataset" in results:
        v, c = results["dataset"]["validate"], results["dataset"]["cache"]
        lines += [
            "## 4. Dataset I/O (261 pairs of 4000x3000)",
            "",
            f"- `validate`: **{v['seconds']:.1f} s** for {v['pairs']} pairs (target: well under a minute)",
            f"- decode + resize to {c['resolution']} px: {c['cold_s_per_pair'] * 1000:.0f} ms per pair; from the "
            f"cache: {c['cached_s_per_pair'] * 1000:.1f} ms ({c['ratio']:.0f}x faster)",
            "",
        ]
    if "scaling" in results:
        s = results["scaling"]
        lines += [
            "## 5. Scaling (figure: docs/scaling.html)",
            "",
            "| megapixels | inference s | peak RSS MB |",
            "|---|---|---|",
        ]
        lines += [
            f"| {r['megapixels']} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |" for r in s["inference"]
        ]
        lines += ["", "| batch (512 px crops) | training images/s |", "|---|---|"]
        lines += [f"| {r['batch']} | {r['images_per_s']:.2f} |" for r in s["training"]]
        lines.append("")
    if "app" in results:
        r = results["app"]
        lines += [
            "## 6. App latency in a real browser",
            "",
            f"- upload of a 12-megapixel JPEG to overlay visible: **{r['seconds']:.1f} s** (median of "
            f"{r['repeats']}; target <= 5 s: {verdict(r['seconds'], 5, False)})",
            "",
        ]
    if "models" in results:
        lines += render_models(results["models"])
    if "field" in results:
        from field import render as render_field

        lines += render_field(results["field"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    previous = DOCS / "benchmarks.json"
    # --only refreshes some sections and keeps the others from the last full run.
    results: dict = json.loads(previous.read_text()) if previous.is_file() and wanted != set(SECTIONS) else {}
    results["machine"] = machine()
    if "inference" in wanted:
        from inference import run_benchmark

        results["inference"] = run_benchmark(repeats=2 if args.quick else 5)
    if "hardware" in wanted:
        from hardware import measure_all

        results["hardware"] = measure_all(512, 3 if args.quick else 7)
    if "training" in wanted:
        import training

        with tempfile.TemporaryDirectory() as tmp:
            from dataset_io import build_harvey_sized

            data = build_harvey_sized(Path(tmp), 8 if args.quick else 16, 4 if args.quick else 8)
            ours = training.measure("stormseg", data, 2, Path(tmp) / "home")
            naive = training.measure("naive", data, 1 if args.quick else 2, Path(tmp) / "home")
        results["training"] = {
            "stormseg": ours,
            "naive": naive,
            "speedup": ours["images_per_s"] / naive["images_per_s"],
        }
    if "dataset" in wanted:
        import dataset_io

        with tempfile.TemporaryDirectory() as tmp:
            data = dataset_io.build_harvey_sized(
                Path(tmp), 40 if args.quick else 261, 4 if args.quick else 12
            )
            results["dataset"] = {
                "validate": dataset_io.bench_validate(data),
                "cache": dataset_io.bench_cache(data, Path(tmp) / "cache"),
            }
    if "scaling" in wanted:
        results["scaling"] = scaling(args.quick)
        write_figure(results["scaling"])
    if "models" in wanted:
        from models import run_benchmark as compare_models

        results["models"] = compare_models(epochs=2 if args.quick else 12, repeats=2 if args.quick else 5)
    if "field" in wanted:
        from field import batch_throughput
        from field import run_benchmark as field_benchmark

        results["field"] = field_benchmark(repeats=2 if args.quick else 3)
        results["field"]["batch"] = batch_throughput(8 if args.quick else 16)
    if "app" in wanted:
        try:
            from app_latency import measure_app_latency

            results["app"] = measure_app_latency(repeats=1 if args.quick else 3)
        except Exception as exc:  # noqa: BLE001 - a missing browser must not lose the other numbers
            print(f"app latency skipped: {exc}", file=sys.stderr)
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=1))
    (DOCS / "BENCHMARKS.md").write_text(render(results))
    print((DOCS / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
