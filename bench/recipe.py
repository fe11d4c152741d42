"""The RescueNet/FloodNet recipe's training options on synthetic damage scenes: rare-class crops
(`--rare-crop-share`) and OHEM + Dice (`--ohem-share` with the ce_dice loss) against the defaults,
and native-resolution crops against whole frames squashed to the working resolution.

Each seed of a group is one `demo-data --scheme rescuenet` dataset (damage drawn) that every
variant trains on, the same way (the CLI, one process per run); every run is scored on the
group's own evaluation scenes (another seed) with `evaluate --json`, per class. Defaults are
chosen on the `selection` group and reported on the `report` group, whose seeds no choice saw;
`native` trains on scenes twice the size, at 640 px (squashed) or at their own 1280 px.

    python bench/recipe.py --group selection --variants baseline rare ohem rare_ohem
    python bench/recipe.py --group report --variants baseline rare_ohem
    python bench/recipe.py --group native --variants baseline native

Runs already in --results are kept (the bench resumes after a kill); each finished run is
written at once. Figures depend on the machine's load: each run records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seg_core.core.progress import eta_seconds  # noqa: E402 - after the path above

GROUPS = {
    # (training seeds, evaluation seed, scene size)
    "selection": ((101, 102), 151, "640x480"),
    "report": ((201, 202, 203), 251, "640x480"),
    # Scenes twice the size: squashed to 640 px (the default's way with big photos) or native.
    "native": ((301, 302), 351, "1280x960"),
}
VARIANTS = {
    "baseline": [],
    "rare": ["--rare-crop-share", "0.5"],
    "ohem": ["--ohem-share", "0.25"],
    "rare_ohem": ["--rare-crop-share", "0.5", "--ohem-share", "0.25"],
    "native": ["--resolution", "1280"],  # after TRAINING's 640: the last flag given counts
}
# Small enough for a loaded 2-core machine (about 10 minutes a run): native 640 px scenes, 256 px
# crops, 16 photos, 6 epochs, no validation split (the evaluation scenes score every run).
TRAINING = {
    "--resolution": "640",
    "--crop": "256",
    "--batch-size": "4",
    "--epochs": "6",
    "--val-ratio": "0",
    "--early-stop-patience": "0",
    "--checkpoint-every": "6",
    "--loss": "ce_dice",
}


def flatten(flags: dict[str, str]) -> list[str]:
    return [part for flag in flags.items() for part in flag]


def run(command: list[str], env: dict) -> str:
    done = subprocess.run(
        ["nice", "-n", "5", sys.executable, "-m", "seg_core", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def dataset(work: Path, seed: int, photos: int, size: str, env: dict) -> Path:
    folder = work / f"rescuenet-{seed}-{size}"
    if not (folder / "classes.json").exists():
        flags = {
            "--out": str(folder),
            "--n": str(photos),
            "--scheme": "rescuenet",
            "--seed": str(seed),
            "--size": size,
        }
        run(["demo-data", *flatten(flags), "--replace"], env)
    return folder


def train_and_score(data: Path, evaluation: Path, seed: int, variant: str, env: dict) -> dict:
    started, load = time.perf_counter(), os.getloadavg()[0]
    out = run(
        [
            "train",
            "--data",
            str(data),
            "--seed",
            str(seed),
            "--name",
            f"recipe {variant} {seed}",
            *flatten(TRAINING),
            *VARIANTS[variant],
        ],
        env,
    )
    folder = next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("checkpoints "))
    checkpoint = Path(folder) / "best.pt"
    trained = time.perf_counter() - started
    scores = json.loads(
        run(
            [
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(evaluation),
                "--split",
                "all",
                "--json",
            ],
            env,
        )
    )
    return {
        "seed": seed,
        "variant": variant,
        "flags": VARIANTS[variant],
        "miou": scores["miou"],
        "iou": {row["name"]: row["iou"] for row in scores["per_class"]},
        "support": {row["name"]: row["support"] for row in scores["per_class"]},
        "train_s": round(trained, 1),
        "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=GROUPS, required=True)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/stormseg-recipe"))
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--photos", type=int, default=16, help="labelled photos per training dataset")
    args = parser.parse_args()
    results_path = args.results or ROOT / "bench" / "results" / f"recipe_{args.group}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    env = {**os.environ, "STORMSEG_HOME": str(args.work / "home")}
    seeds, evaluation_seed, size = GROUPS[args.group]
    evaluation = dataset(args.work, evaluation_seed, 12, size, env)
    todo = [
        (s, v)
        for s in seeds
        for v in args.variants
        if not any(r["seed"] == s and r["variant"] == v for r in results)
    ]
    started = time.perf_counter()
    for done, (seed, variant) in enumerate(todo, start=1):
        result = train_and_score(
            dataset(args.work, seed, args.photos, size, env), evaluation, seed, variant, env
        )
        results.append(result)
        results_path.write_text(json.dumps(results, indent=1))
        eta = eta_seconds(time.perf_counter() - started, done, len(todo))
        print(
            f"[{done}/{len(todo)}] seed {seed} {variant}: mIoU {result['miou']:.3f} "
            f"({result['train_s']:.0f} s, load {result['load_before']}); ETA {eta / 60:.0f} min",
            flush=True,
        )


if __name__ == "__main__":
    main()
