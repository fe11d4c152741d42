#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs lint and the whole suite
# (browser tests included). Idempotent: a second run reuses the venv and skips installed bits.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium for the browser tests and poppler-utils (pdftotext, pdftoppm) for the tests
# that read the situation report's PDF; without them those tests skip, so CI installs them.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's ${missing[*]} for the tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

.venv/bin/ruff check .
.venv/bin/ruff format --check .
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest "$@"
# The docs site, offline, after the browser tests refreshed its screenshots: a broken link or
# anchor, or a page missing from the navigation, fails the build.
site="$(mktemp -d)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
# The package as users install it: wheel -> fresh venv -> `stormseg` from a temporary folder.
bash scripts/check_wheel.sh
