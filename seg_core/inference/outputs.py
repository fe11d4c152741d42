"""A prediction output folder (`python -m seg_core predict --out DIR`): its names, its own files,
and batch statistics that survive interruptions and repeated batches.

- **Names never clash.** Each photo's files are `<stem>_mask.png`, `<stem>_overlay.jpg`,
  `<stem>_stats.json`; a photo whose stem is taken already (`a/photo.jpg` and `b/photo.jpg`, or
  a file from an earlier batch) gets `<stem>_2`, `_3`, ... The same photo predicted again (same
  resolved path) keeps its stem and replaces its own files.
- **The folder's own files are never inputs.** When `--out` is also an input folder, the masks,
  overlays and statistics written there are skipped.
- **Statistics cover the folder, written after every photo.** `stats.csv` and `stats.json` list
  every photo the folder holds outputs for (earlier batches' rows kept, a re-predicted photo's
  row replaced), each with its source path and output stem; they are rewritten atomically
  after each photo, so Ctrl-C or a crash keeps the rows of the photos already done.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seg_core.analytics.report import safe_stem, stats_csv
from seg_core.analytics.statistics import ImageStats, batch_summary
from seg_core.core.atomic import atomic_write_bytes
from seg_core.schemes.scheme import LabelScheme

OUTPUT_SUFFIXES = ("_mask.png", "_overlay.jpg", "_stats.json")
BATCH_FILES = ("stats.csv", "stats.json")
# 1000 rows take ~0.2 s to rewrite (2 MB of JSON); waiting 5x that between rewrites keeps them
# under a sixth of the time while a small folder is still rewritten after every photo.
WRITE_COST_FACTOR = 5.0


def check_output_folder(out: str | Path) -> Path:
    """Refuse an `--out` that is a file, lies under a file, or cannot be written; never creates it.

    Raises:
        ValueError: naming the path and the problem.
    """
    out = Path(out)
    for existing in (out, *out.parents):
        if not existing.exists():
            continue
        if not existing.is_dir():
            where = "is a file" if existing == out else f"is inside {existing}, which is a file"
            raise ValueError(f"--out {out} {where}; give a folder for the outputs")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"--out {out}: {existing} is not writable")
        return out
    return out


def is_own_output(path: Path, out: Path) -> bool:
    """Whether `path` is a file a predict batch wrote into `out` (a mask, overlay or statistics
    file next to its `<stem>_stats.json`), so it must not be segmented as a photo."""
    if path.parent.resolve() != out.resolve():
        return False
    if path.name in BATCH_FILES:
        return True
    for suffix in OUTPUT_SUFFIXES:
        if path.name.endswith(suffix):
            return (out / f"{path.name[: -len(suffix)]}_stats.json").is_file()
    return False


@dataclass(frozen=True)
class Entry:
    """One photo's row: its statistics, where it came from, and the stem of its output files."""

    stats: ImageStats
    source: str
    stem: str

    def to_dict(self) -> dict:
        return {**self.stats.to_dict(), "source": self.source, "outputs": self.stem}


def _entry_from_dict(values: dict) -> Entry:
    values = dict(values)
    source, stem = values.pop("source", ""), values.pop("outputs", None)
    stats = ImageStats.from_dict(values)
    return Entry(stats, source, stem or safe_stem(stats.name))


class OutputFolder:
    """The statistics of one output folder, loaded from its stats.json and kept up to date."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.entries: list[Entry] = self._load()
        self._pending = False  # rows recorded but not yet written
        self._last_write_end = 0.0
        self._last_write_cost = 0.0

    def _load(self) -> list[Entry]:
        path = self.out / "stats.json"
        if not path.is_file():
            return []
        try:
            return [_entry_from_dict(item) for item in json.loads(path.read_text())["images"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never overwrite what we cannot read: it may be someone else's file.
            raise ValueError(
                f"{path} is not the statistics of an earlier predict batch ({type(exc).__name__}); "
                "choose another --out or move the file"
            ) from None

    def check_scheme(self, scheme: LabelScheme) -> None:
        """Refuse a folder whose earlier rows are another scheme's: one table holds one scheme.

        Raises:
            ValueError: naming the folder and both schemes.
        """
        other = sorted({e.stats.scheme for e in self.entries} - {scheme.name})
        if other:
            raise ValueError(
                f"{self.out} holds statistics of {', '.join(other)} masks; this model predicts "
                f"{scheme.name}: choose another --out"
            )

    def stem_for(self, source: Path, taken: set[str], earlier: str | None = None) -> str:
        """The output stem for `source`: its own from an earlier batch (this folder's statistics,
        else `earlier`: the stem a manifest gave it), else its file name's stem made unique
        against this folder's files and `taken` (lower case, the stems already given out in this
        batch; updated)."""
        key = str(source.resolve())
        own = next((e.stem for e in self.entries if e.source == key), earlier)
        if own is not None and own.lower() not in taken:
            taken.add(own.lower())
            return own
        base, n = safe_stem(source.name), 1
        stem = base
        while stem.lower() in taken or self._in_use(stem):
            n += 1
            stem = f"{base}_{n}"
        taken.add(stem.lower())
        return stem

    def _in_use(self, stem: str) -> bool:
        if any(e.stem.lower() == stem.lower() for e in self.entries):
            return True
        return any((self.out / f"{stem}{suffix}").exists() for suffix in OUTPUT_SUFFIXES)

    def holds(self, source: Path) -> bool:
        """Whether the statistics have a row for `source`."""
        key = str(source.resolve())
        return any(e.source == key for e in self.entries)

    def record(self, source: Path, stem: str, stats: ImageStats) -> None:
        """Add (or replace) one photo's row and rewrite stats.csv and stats.json atomically
        (right away, unless the last rewrite was recent and slow: see the module docstring)."""
        key = str(source.resolve())
        entry = Entry(stats, key, stem)
        same = [i for i, e in enumerate(self.entries) if e.source == key or e.stem == stem]
        # A photo predicted again keeps its row's place: the table stays in the order photos came.
        self.entries = [e for i, e in enumerate(self.entries) if i not in same[1:]]
        if same:
            self.entries[same[0]] = entry
        else:
            self.entries.append(entry)
        self._pending = True
        if time.monotonic() - self._last_write_end >= WRITE_COST_FACTOR * self._last_write_cost:
            self.flush()

    def flush(self) -> None:
        """Write the rows recorded since the last rewrite, if any (call at the end and on Ctrl-C)."""
        if not self._pending:
            return
        started = time.monotonic()
        self._write()
        self._pending = False
        self._last_write_end = time.monotonic()
        self._last_write_cost = self._last_write_end - started

    def _write(self) -> None:
        stats = [e.stats for e in self.entries]
        extra = [{"source": e.source, "outputs": e.stem} for e in self.entries]
        atomic_write_bytes(self.out / "stats.csv", stats_csv(stats, extra).encode())
        document = {"images": [e.to_dict() for e in self.entries], "summary": batch_summary(stats)}
        atomic_write_bytes(self.out / "stats.json", json.dumps(document, indent=2).encode())


def unique_sources(files: Sequence[Path]) -> list[Path]:
    """`files` without repeats of one file (by resolved path), in order."""
    seen: set[Path] = set()
    unique = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique
