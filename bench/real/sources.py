"""The real-photo benchmark's sources: where each file comes from, and reading it from a snapshot.

A source is a public GitHub repository at one commit. Its files are read from a local snapshot of
that repository (a bare or working git directory, as `fetch github:OWNER/NAME` leaves it under
`/work/.mirror/OWNER+NAME/repo`), never from the network, and every file's SHA-256 is checked
against bench/real/manifest.json before anything is built from it. Nothing of a source is
committed to this repository: the benchmark is assembled into the git-ignored data/real/.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Where `fetch` leaves snapshots on this machine; STORMSEG_MIRROR or --mirror overrides it.
DEFAULT_MIRROR = Path(os.environ.get("STORMSEG_MIRROR", "/work/.mirror"))


class SourceMissing(RuntimeError):
    """A source's snapshot, commit or file is not on this machine (the message says how to get it)."""


class ChecksumMismatch(RuntimeError):
    """A file read from a snapshot is not the one the manifest recorded."""


@dataclass(frozen=True)
class Source:
    name: str
    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits: the files are read at this commit, whatever the snapshot's HEAD
    licence: str
    ship_weights: bool  # may a shipped model be trained on it (bench/real/README.md says why)
    files: dict[str, str]  # path in the repository -> SHA-256

    @classmethod
    def from_manifest(cls, name: str, entry: dict) -> Source:
        return cls(
            name=name,
            repo=entry["repo"],
            commit=entry["commit"],
            licence=entry["licence"],
            ship_weights=bool(entry["ship_weights"]),
            files=dict(entry["files"]),
        )

    def snapshot_dir(self, mirror: Path) -> Path:
        """The git directory of this source's snapshot under `mirror`."""
        base = Path(mirror) / self.repo.replace("/", "+")
        return base / "repo" if (base / "repo").exists() else base

    def how_to_fetch(self, mirror: Path) -> str:
        return (
            f"source {self.name!r} ({self.repo} at {self.commit[:12]}) is not in {self.snapshot_dir(mirror)}: "
            f"bring a snapshot with the search tool's `fetch github:{self.repo}` (or `git clone "
            f"https://github.com/{self.repo}` there), then run the assembly again"
        )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(source: Source, path: str, mirror: Path) -> bytes:
    """The bytes of `path` at the source's commit, checksum verified.

    Raises:
        SourceMissing: no snapshot, or the snapshot lacks the commit or the file.
        ChecksumMismatch: the file differs from the manifest's record.
    """
    git_dir = source.snapshot_dir(mirror)
    if not git_dir.exists():
        raise SourceMissing(source.how_to_fetch(mirror))
    result = subprocess.run(
        ["git", "--git-dir", str(_git_dir(git_dir)), "show", f"{source.commit}:{path}"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[:1]
        raise SourceMissing(
            f"{source.repo} at {source.commit[:12]}: cannot read {path} from {git_dir} "
            f"({reason[0] if reason else 'git failed'}); {source.how_to_fetch(mirror)}"
        )
    expected = source.files.get(path)
    actual = sha256_bytes(result.stdout)
    if expected is not None and actual != expected:
        raise ChecksumMismatch(
            f"{source.repo}:{path} at {source.commit[:12]} has SHA-256 {actual[:16]}..., the manifest "
            f"records {expected[:16]}...: the snapshot is not the file the benchmark was built from"
        )
    return result.stdout


def list_files(source: Source, mirror: Path, prefix: str) -> list[str]:
    """Paths starting with `prefix` (a folder or a folder and a name prefix) at the source's commit (used when recording a new manifest)."""
    git_dir = source.snapshot_dir(mirror)
    if not git_dir.exists():
        raise SourceMissing(source.how_to_fetch(mirror))
    result = subprocess.run(
        ["git", "--git-dir", str(_git_dir(git_dir)), "ls-tree", "-r", "--name-only", source.commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SourceMissing(f"{source.repo}: {result.stderr.strip()}; {source.how_to_fetch(mirror)}")
    return sorted(line for line in result.stdout.splitlines() if line.startswith(prefix))


def _git_dir(path: Path) -> Path:
    """A working tree's .git, or the bare directory itself."""
    return path / ".git" if (path / ".git").exists() else path
