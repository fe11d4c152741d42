#!/usr/bin/env bash
# CI: build the wheel, install it into a fresh virtual environment outside the repository, and
# use it as a new user would, from a temporary folder: `stormseg --help`, `--version`, `models`
# in the empty folder, `demo-data`, a one-epoch `train`, `predict` with that model (by path and by
# its run name) and with the shipped model by name (`demo`), and the app's Home page from the
# installed files.
#
# Offline and quick (~1 min): the wheel is built without build isolation (setuptools comes from
# requirements-dev.txt), and the fresh environment does not download torch & co. again: it sees
# the test venv's packages through a .pth file placed after its own site-packages, and a check
# proves that every dependency the wheel declares is satisfied by what it sees. The wheel itself
# is installed with --no-deps --no-index, so nothing of StormSeg comes from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$PWD/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/stormseg-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pip_quiet=(-q --disable-pip-version-check)

echo "wheel: building from a copy of the working tree (the build leaves no files in the repo)"
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard |
  tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$work/src"
"$py" -m pip wheel "${pip_quiet[@]}" --no-deps --no-build-isolation --no-index -w "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/stormseg-*.whl)"

echo "wheel: installing $(basename "$wheel") into a fresh venv"
"$py" -m venv --without-pip "$work/venv"
venv_py="$work/venv/bin/python"
"$venv_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$work/site"
"$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$(cat "$work/site")/_ci_dependencies.pth"
"$py" -m pip --python "$venv_py" install "${pip_quiet[@]}" --no-deps --no-index "$wheel"

mkdir "$work/home"
cd "$work/home"
unset STORMSEG_HOME STORMSEG_DATA_ROOT STORMSEG_CACHE_DIR PYTHONPATH
export PATH="$work/venv/bin:$PATH" HF_HUB_OFFLINE=1

"$venv_py" - <<'PY'
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import seg_core
from seg_core.core import paths

problems = []
for text in metadata.requires("stormseg"):
    requirement = Requirement(text)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        continue  # extras ([dev]) are not part of a plain install
    try:
        found = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        problems.append(f"{requirement}: not installed")
        continue
    if not requirement.specifier.contains(found, prereleases=True):
        problems.append(f"{requirement}: found {found}")
assert not problems, "declared dependencies not satisfied: " + "; ".join(problems)
assert Path(seg_core.__file__).is_relative_to(sys.prefix), f"seg_core imported from {seg_core.__file__}"
assert not paths.IS_CHECKOUT and paths.home() == Path.cwd().resolve(), paths.home()
for shipped in (paths.DEMO_CHECKPOINT, paths.REAL_GROUND_STARTER, paths.SAMPLES_DIR / "flooded_street.jpg",
                paths.APP_DIR / "app.py", paths.APP_DIR / ".streamlit" / "config.toml"):
    assert shipped.is_file(), f"{shipped} is missing from the wheel"
print("wheel: dependencies satisfied, package data present, home is the current folder")
PY

stormseg --help >/dev/null
stormseg --version
# Models by name in a folder with nothing in it: the shipped one is `demo`, listing creates nothing.
stormseg models --json | "$venv_py" -c 'import json, sys; ids = [m["id"] for m in json.load(sys.stdin)["models"]]; assert ids == ["demo"], ids'
test -z "$(ls -A)"
if stormseg predict --checkpoint demoo --out out-typo nothing.jpg 2>"$work/typo"; then
  echo "wheel: an unknown model name was accepted" >&2; exit 1
fi
grep -q "^error: demoo: no such file, and no model has this name; models that can be named: demo$" "$work/typo"
stormseg demo-data --out data/demo --n 6 --size 96x64
stormseg train --data data/demo --epochs 1 --arch unet --unet-base-width 4 --resolution 64 --crop 32 \
  --batch-size 2 --val-ratio 0.34 --warmup-epochs 0 --name wheel-check
best="$(ls checkpoints/*/best.pt)"
stormseg predict --checkpoint "$best" --out out data/demo/test_images
test -s out/stats.csv
stormseg predict --checkpoint wheel-check --out out-named data/demo/test_images  # a run by its name
test -s out-named/stats.csv
samples="$("$venv_py" -c 'from seg_core.core import paths; print(paths.SAMPLES_DIR)')"
stormseg predict --checkpoint demo --out out-demo "$samples/flooded_street.jpg"
test -s out-demo/flooded_street_mask.png

"$venv_py" - <<'PY'
import tomllib

from streamlit import config
from streamlit.testing.v1 import AppTest

from seg_core.core import paths

# AppTest does not read .streamlit/config.toml; `stormseg app` runs Streamlit from the app's
# folder, which does. Apply the packaged file's address (localhost), as `stormseg app` would, so
# the Home page runs in single-user mode instead of refusing a network address without sign-in.
packaged = tomllib.loads((paths.APP_DIR / ".streamlit" / "config.toml").read_text())
assert packaged["server"]["address"] == "localhost", packaged["server"]
config.set_option("server.address", packaged["server"]["address"])
home = AppTest.from_file(str(paths.APP_DIR / "app.py"), default_timeout=120).run()
assert not home.exception, home.exception
print(f"wheel: the installed app's Home page runs ({home.title[0].value!r})")
PY
echo "wheel: OK"
