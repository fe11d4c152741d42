"""Flight-scale batch prediction: a manifest that makes `predict` resumable, and sharding across
processes and machines launched by torchrun.

- **Manifest.** Each process appends one JSON line per finished photo to
  `<out>/predict_manifest.<rank>.jsonl` (source path, size, mtime, output stem, statistics; or
  the sentence that made it unusable), flushed and fsynced *after* the photo's outputs were
  written atomically. A photo is done when a manifest line matches its path, size and mtime and
  its output files exist, so a crash, a kill or Ctrl-C at any instant loses at most the photo in
  flight, and a half-written output never counts. A torn last line (killed mid-append) is ignored.
  Every process reads every manifest in the folder, so a resumed batch may use another number of
  processes than the interrupted one.
- **Sharding.** Under torchrun (`torchrun --nproc_per_node=N -m seg_core predict ...`, or
  `--nnodes` across machines sharing the output folder) rank r takes photos r, r+N, r+2N, ... of
  the sorted input list; at the end the ranks' statistics are gathered over torch.distributed
  (gloo) and rank 0 writes one stats.csv/stats.json in input order, equal to a one-process run.
  Without torchrun (WORLD_SIZE unset) nothing here imports torch.
- **A lost launcher.** Each worker watches its torchrun agent (`core.parent_watch`): when the agent is
  killed, the workers stop after the photo in flight, or at once if they already wait in the
  final gather, instead of waiting for a store that is gone. The gather's own timeout follows the
  work left (`gather_timeout`), not a fixed half day.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seg_core.analytics.report import safe_stem
from seg_core.analytics.statistics import FloodExposure, ImageStats
from seg_core.core.parent_watch import LauncherWatch

MANIFEST_PREFIX = "predict_manifest."
OUTPUT_SUFFIXES = ("_mask.png", "_overlay.jpg", "_stats.json")
# The final gather waits for the slowest rank: GATHER_SLACK (start-up, model loading) plus
# GATHER_FACTOR times that rank's photos at this rank's pace (photos differ in size, machines in
# speed), or UNMEASURED_PHOTO_S per photo when this rank measured none (it had nothing to do).
GATHER_SLACK = datetime.timedelta(minutes=10)
GATHER_FACTOR = 3.0
UNMEASURED_PHOTO_S = 120.0  # a 12-megapixel photo with TTA on a slow CPU


def gather_timeout(photos_of_slowest: int, seconds_per_photo: float | None) -> datetime.timedelta:
    """How long to wait at the final gather, in proportion to the largest shard's photos."""
    pace = UNMEASURED_PHOTO_S if seconds_per_photo is None else max(seconds_per_photo, 0.0)
    return GATHER_SLACK + datetime.timedelta(seconds=GATHER_FACTOR * max(photos_of_slowest, 0) * pace)


@dataclass(frozen=True)
class Shard:
    """This process's part of the batch: rank `rank` of `world` processes."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} of world size {self.world}: need 0 <= RANK < WORLD_SIZE")

    @classmethod
    def from_env(cls) -> Shard:
        """RANK and WORLD_SIZE as torchrun sets them; one process when they are absent."""
        try:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        except ValueError:
            raise ValueError(
                f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} "
                "must be integers (torchrun sets them)"
            ) from None
        return cls(rank, world)

    def take(self, items: Sequence) -> list:
        return list(items[self.rank :: self.world])

    @property
    def label(self) -> str:
        return "predict" if self.world == 1 else f"predict [rank {self.rank}/{self.world}]"

    def gather(self, item, timeout: datetime.timedelta = GATHER_SLACK, watch: LauncherWatch | None = None):
        """Every rank's `item`, in rank order, on every rank (the final barrier). `watch`: the
        process leaves at once if the launcher goes during the wait (see `core.parent_watch`)."""
        if self.world == 1:
            return [item]
        import torch.distributed as dist

        with watch.waiting() if watch is not None else contextlib.nullcontext():
            if not dist.is_initialized():
                dist.init_process_group("gloo", timeout=timeout)
            gathered = [None] * self.world
            try:
                dist.all_gather_object(gathered, item)
            finally:
                dist.destroy_process_group()
        return gathered


def stats_from_dict(values: dict) -> ImageStats:
    return ImageStats(**{**values, "flood": FloodExposure(**values["flood"])})


def _identity(path: Path) -> dict:
    status = path.stat()
    return {"source": str(path.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


class Manifest:
    """What earlier and current runs finished in one output folder; appends for one rank."""

    def __init__(self, out: Path, rank: int = 0) -> None:
        self.out = Path(out)
        self.path = self.out / f"{MANIFEST_PREFIX}{rank}.jsonl"
        self.records: dict[str, dict] = {}
        for manifest in sorted(self.out.glob(f"{MANIFEST_PREFIX}*.jsonl")):
            self._read(manifest)
        self._end_torn_line()

    def _end_torn_line(self) -> None:
        """Start our appends on a fresh line if a killed run left half of one."""
        try:
            with open(self.path, "rb+") as handle:
                if handle.seek(0, os.SEEK_END) and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n":
                    handle.write(b"\n")
        except FileNotFoundError:
            pass

    def _read(self, manifest: Path) -> None:
        for line in manifest.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the torn last line of a killed run
                continue
            if isinstance(record, dict) and "source" in record:
                self.records[record["source"]] = record

    def finished(self, path: Path) -> dict | None:
        """The record of `path` if an earlier run finished it as it is now (done with all its
        outputs present, or found unusable), else None."""
        try:
            identity = _identity(path)
        except OSError:
            return None  # missing now: it is reported when it is read
        record = self.records.get(identity["source"])
        if record is None or any(record.get(k) != v for k, v in identity.items()):
            return None
        if record["status"] == "done":
            stem = record["stem"]
            if not all((self.out / f"{stem}{suffix}").is_file() for suffix in OUTPUT_SUFFIXES):
                return None
        return record

    def stem_of(self, path: Path) -> str | None:
        """The output stem an earlier run gave `path` (whatever it has become since), if any."""
        record = self.records.get(str(path.resolve()))
        return record.get("stem") if record and record.get("status") == "done" else None

    def add_done(self, path: Path, stats: ImageStats, stem: str | None = None) -> None:
        self._append(
            {
                **_identity(path),
                "status": "done",
                "stem": stem or safe_stem(path.name),
                "stats": stats.to_dict(),
            }
        )

    def add_skipped(self, path: Path, message: str) -> None:
        try:
            identity = _identity(path)
        except OSError:
            return  # a missing file has nothing to remember
        self._append({**identity, "status": "skipped", "message": message})

    def _append(self, record: dict) -> None:
        self.records[record["source"]] = record
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # the line survives a power cut once the photo counts as done
