"""Assemble the real-photo benchmark from source snapshots into data/real/ (git-ignored).

    python bench/real/assemble.py [--mirror DIR] [--out data/real] [--only SOURCE ...]
    python bench/real/assemble.py --dense-only --only dubai --out DIR   # the demo model's real tiles
    python bench/real/assemble.py --record   # rewrite the manifest's file lists and checksums

Every source file is read at the manifest's commit and checked against its recorded SHA-256
before use; a missing snapshot is named with the command that brings it. Photos are cut into
non-overlapping `tile_px` squares at their native resolution (what a drone tile or a downsized
photo gives; no resampling), and masks are turned into Harvey class ids per task:

    data/real/tasks/<task>/pool/{images,masks}/   labelled photos to fine-tune on, in `order`
    data/real/tasks/<task>/test/{images,masks}/   held-out photos the task is scored on
    data/real/tasks/<task>/task.json              the task (group, classes, pool order)
    data/real/dense/<source>-<group>/{images,masks}/  every labelled class of a source's group,
                                                   for training a model (scripts/train_demo_model.sh);
                                                   with partial_labels.json where a source class is
                                                   "one of" several Harvey classes (vegetation)

A pixel a source does not label (its "unlabelled" colour, or a colour off its palette) gets the
ignore value 255: no loss and no score ever counts it.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from sources import (  # noqa: E402
    DEFAULT_MIRROR,
    ChecksumMismatch,
    Source,
    SourceMissing,
    list_files,
    read_file,
    sha256_bytes,
)

from seg_core.datasets.partial import PartialLabels, write_partial_labels  # noqa: E402

MANIFEST = HERE / "manifest.json"
DEFAULT_OUT = ROOT / "data" / "real"
IGNORE = 255
# A mask pixel further than this (squared RGB distance) from every palette colour is ignored:
# resampled or compressed edges between two classes belong to neither.
PALETTE_TOLERANCE = 3 * 12**2
CLASS_SHARE_TO_COUNT = 0.01  # a pool photo "shows" the class from 1% of its pixels on


def load_manifest(path: Path = MANIFEST) -> dict:
    """The manifest, checked for the fields the assembly and the runner rely on.

    Raises:
        ValueError: a missing field, a task naming an unknown source or class, or a photo in two groups.
    """
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the manifest ({exc})") from None
    for key in ("format", "tile_px", "sources", "tasks", "groups"):
        if key not in manifest:
            raise ValueError(f"{path}: the manifest has no {key!r}")
    for name, entry in manifest["sources"].items():
        for key in (
            "repo",
            "commit",
            "licence",
            "ship_weights",
            "files",
            "images",
            "masks",
            "mask_kind",
            "classes",
        ):
            if key not in entry:
                raise ValueError(f"{path}: source {name!r} has no {key!r}")
        if len(entry["commit"]) != 40:
            raise ValueError(f"{path}: source {name!r} commit must be 40 hex digits")
    groups: dict[tuple[str, str], str] = {}
    for task in manifest["tasks"]:
        source = manifest["sources"].get(task.get("source"))
        if source is None:
            raise ValueError(
                f"{path}: task {task.get('name')!r} names an unknown source {task.get('source')!r}"
            )
        if task["class"] not in source["classes"]:
            raise ValueError(f"{path}: task {task['name']!r}: source has no class {task['class']!r}")
        if task["group"] not in manifest["groups"]:
            raise ValueError(f"{path}: task {task['name']!r}: unknown group {task['group']!r}")
        for stem in task["pool"] + task["test"]:
            other = groups.setdefault((task["source"], stem), task["group"])
            if other != task["group"]:
                raise ValueError(
                    f"{path}: photo {stem!r} of {task['source']!r} is in both the {other} and the "
                    f"{task['group']} group: selection and report photos must never overlap"
                )
    return manifest


def sources_of(manifest: dict) -> dict[str, Source]:
    return {name: Source.from_manifest(name, entry) for name, entry in manifest["sources"].items()}


def tiles(image: np.ndarray, size: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Non-overlapping size x size boxes on a floor grid: [(suffix, (left, top, right, bottom))].
    A photo smaller than `size` gives one box of its own size."""
    height, width = image.shape[:2]
    if height < size or width < size:
        return [("r0c0", (0, 0, width, height))]
    rows, cols = height // size, width // size
    return [
        (f"r{r}c{c}", (c * size, r * size, (c + 1) * size, (r + 1) * size))
        for r in range(rows)
        for c in range(cols)
    ]


def class_index(mask_bytes: bytes, entry: dict) -> np.ndarray:
    """HxW indices into the source's class list (order of `entry['classes']`), 255 = unlabelled."""
    names = list(entry["classes"])
    if entry["mask_kind"] == "palette_rgb":
        rgb = np.asarray(Image.open(io.BytesIO(mask_bytes)).convert("RGB")).astype(np.int32)
        colours = np.array([entry["classes"][n] for n in names], dtype=np.int32)
        distance = ((rgb[:, :, None, :] - colours[None, None]) ** 2).sum(-1)
        index = distance.argmin(-1).astype(np.uint8)
        index[distance.min(-1) > PALETTE_TOLERANCE] = IGNORE
    elif entry["mask_kind"] == "threshold":
        grey = np.asarray(Image.open(io.BytesIO(mask_bytes)).convert("L"))
        # classes: {"name": [low, high]} inclusive grey ranges
        index = np.full(grey.shape, IGNORE, np.uint8)
        for i, name in enumerate(names):
            low, high = entry["classes"][name]
            index[(grey >= low) & (grey <= high)] = i
    else:
        raise ValueError(f"unknown mask_kind {entry['mask_kind']!r}")
    for i, name in enumerate(names):
        if name in entry.get("unlabelled", []):
            index[index == i] = IGNORE
    return index


def task_mask(index: np.ndarray, names: list[str], task: dict, harvey_ids: dict[str, int]) -> np.ndarray:
    """One-class task mask: the task's class -> its first Harvey class, labelled others -> 0."""
    mask = np.where(index == IGNORE, IGNORE, 0).astype(np.uint8)
    mask[index == names.index(task["class"])] = harvey_ids[task["harvey"][0]]
    return mask


def dense_mask(index: np.ndarray, names: list[str], mapping: dict, values: dict[str, int]) -> np.ndarray:
    """Every class a source labels, as the mask values `dense_values` gives (a source class mapped
    to None stays unlabelled)."""
    mask = np.full(index.shape, IGNORE, np.uint8)
    for i, name in enumerate(names):
        if mapping.get(name) is not None:
            mask[index == i] = values[name]
    return mask


def dense_values(mapping: dict, labels) -> dict[str, int]:
    """Each mapped source class's mask value: a Harvey class name -> its id; a list of names (a
    class Harvey splits, e.g. vegetation) -> the partial-label code "one of these classes",
    declared in `labels` (seg_core.datasets.partial)."""
    from seg_core.schemes.classes import class_id

    values = {}
    for name, target in mapping.items():
        if isinstance(target, list):
            values[name] = labels.code_for_one_of([class_id(t) for t in target])
        elif target is not None:
            values[name] = class_id(target)
    return values


def _photo(source: Source, entry: dict, stem: str, mirror: Path) -> tuple[np.ndarray, np.ndarray]:
    image_path = _find(source, entry["images"], stem)
    mask_path = _find(source, entry["masks"], stem)
    image = np.asarray(Image.open(io.BytesIO(read_file(source, image_path, mirror))).convert("RGB"))
    index = class_index(read_file(source, mask_path, mirror), entry)
    if index.shape != image.shape[:2]:
        raise ValueError(
            f"{source.repo}:{mask_path}: mask {index.shape[::-1]} and photo {image.shape[1::-1]} differ in size"
        )
    return image, index


def _find(source: Source, folder: str, stem: str) -> str:
    for path in source.files:
        if path.startswith(folder) and Path(path).stem == stem:
            return path
    raise ValueError(f"{source.repo}: no file {stem!r} under {folder} in the manifest")


def _save(folder: Path, name: str, image: np.ndarray, mask: np.ndarray) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{name}.png")
    Image.fromarray(mask).save(folder / "masks" / f"{name}.png")


def assemble(
    manifest: dict, mirror: Path, out: Path, only: set[str] | None = None, log=print
) -> dict[str, list[str]]:
    """Build every task (and dense set) whose source is here; returns {"built": [...], "missing": [...]}
    where missing holds one sentence per absent source. A checksum mismatch stops everything."""
    from seg_core.schemes.classes import class_id

    sources = sources_of(manifest)
    size = int(manifest["tile_px"])
    built, missing = [], []
    usable = {}
    for name, source in sources.items():
        if only and name not in only:
            continue
        try:
            for path in source.files:
                read_file(source, path, mirror)  # every file verified before anything is written
            usable[name] = source
        except SourceMissing as exc:
            missing.append(str(exc))
            log(f"MISSING: {exc}")
    for task in manifest["tasks"]:
        if task["source"] not in usable:
            continue
        entry = manifest["sources"][task["source"]]
        names = list(entry["classes"])
        harvey_ids = {h: class_id(h) for h in task["harvey"]}
        folder = out / "tasks" / task["name"]
        shutil.rmtree(folder, ignore_errors=True)
        shown = []
        for split in ("pool", "test"):
            for stem in task[split]:
                image, index = _photo(usable[task["source"]], entry, stem, mirror)
                for suffix, (left, top, right, bottom) in tiles(image, size):
                    name = f"{stem}_{suffix}"
                    mask = task_mask(index[top:bottom, left:right], names, task, harvey_ids)
                    _save(folder / split, name, image[top:bottom, left:right], mask)
                    if split == "pool":
                        share = float((mask == harvey_ids[task["harvey"][0]]).mean())
                        shown.append((name, share >= CLASS_SHARE_TO_COUNT))
        _limit(folder / "test", task.get("max_test"), task["name"])
        order = _pool_order(shown, task["name"], task.get("max_pool"))
        for name, _ in shown:
            if name not in order:
                for kind in ("images", "masks"):
                    (folder / "pool" / kind / f"{name}.png").unlink()
        (folder / "task.json").write_text(json.dumps({**task, "order": order}, indent=1))
        built.append(task["name"])
        log(f"{task['name']} ({task['group']}): {len(order)} pool, {_count(folder / 'test')} test photos")
    for dense in manifest.get("dense", []):
        if dense["source"] not in usable:
            continue
        entry = manifest["sources"][dense["source"]]
        names = list(entry["classes"])
        labels = PartialLabels(sources=[{"assembled_from": dense["source"], "mapping": dense["mapping"]}])
        values = dense_values(dense["mapping"], labels)
        folder = out / "dense" / dense["name"]
        shutil.rmtree(folder, ignore_errors=True)
        for stem in dense["photos"]:
            image, index = _photo(usable[dense["source"]], entry, stem, mirror)
            for suffix, (left, top, right, bottom) in tiles(image, size):
                mask = dense_mask(index[top:bottom, left:right], names, dense["mapping"], values)
                _save(folder, f"{stem}_{suffix}", image[top:bottom, left:right], mask)
        if labels.not_codes:  # a set-valued class: the dataset is a partial-label one
            write_partial_labels(folder, labels)
        built.append(dense["name"])
        log(f"dense {dense['name']}: {_count(folder)} photos")
    return {"built": built, "missing": missing}


def _count(split: Path) -> int:
    return len(list((split / "images").iterdir())) if (split / "images").is_dir() else 0


def _pool_order(shown: list[tuple[str, bool]], seed: str, limit: int | None) -> list[str]:
    """The order labelled photos are taken in (1, 4, 16 = the first 1, 4, 16): seeded shuffle,
    photos showing the class first (an analyst labels photos that show what they fine-tune for)."""
    names = [name for name, _ in shown]
    random.Random(seed).shuffle(names)
    has = dict(shown)
    names.sort(key=lambda n: not has[n])
    return names[:limit] if limit else names


def _limit(split: Path, limit: int | None, seed: str) -> None:
    """Keep `limit` seeded photos of a split (scoring every tile of a large photo adds little)."""
    if not limit or not (split / "images").is_dir():
        return
    names = sorted(p.stem for p in (split / "images").iterdir())
    random.Random(seed + "/test").shuffle(names)
    for name in names[limit:]:
        for kind in ("images", "masks"):
            (split / kind / f"{name}.png").unlink()


def record(manifest_path: Path, mirror: Path) -> None:
    """Rewrite each source's file list (its images and masks folders) with SHA-256s from the snapshot."""
    manifest = json.loads(manifest_path.read_text())
    for name, entry in manifest["sources"].items():
        source = Source.from_manifest(name, {**entry, "files": {}})
        files = {}
        for folder in (entry["images"], entry["masks"]):
            for path in list_files(source, mirror, folder):
                files[path] = sha256_bytes(read_file(source, path, mirror))
        entry["files"] = files
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="folder of source snapshots")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--only", nargs="*", help="only these sources")
    parser.add_argument("--dense-only", action="store_true", help="only the dense training sets")
    parser.add_argument("--record", action="store_true", help="rewrite the manifest's checksums")
    args = parser.parse_args(argv)
    try:
        if args.record:
            record(args.manifest, args.mirror)
            print(f"{args.manifest}: checksums recorded")
            return 0
        manifest = load_manifest(args.manifest)
        if args.dense_only:
            manifest = {**manifest, "tasks": []}
        result = assemble(manifest, args.mirror, args.out, set(args.only or []) or None)
    except (ValueError, ChecksumMismatch, SourceMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["missing"]:
        print(f"{len(result['missing'])} source(s) missing; the others were assembled", file=sys.stderr)
        return 1 if result["built"] else 2
    print(f"assembled {len(result['built'])} set(s) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
