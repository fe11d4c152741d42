"""App latency in a real browser: upload a 12-megapixel JPEG on Segment until the overlay and
its legend are on screen, with the default (shipped demo) model.

    python bench/app_latency.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))


def measure_app_latency(repeats: int = 3) -> dict:
    from harness import chromium, chromium_available, running_app
    from inference import make_photo

    if not chromium_available():
        raise RuntimeError("Debian's chromium is not installed")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        photo = make_photo(Path(tmp) / "drone_12mp.jpg", 12.0)
        home = Path(tmp) / "home"
        home.mkdir()
        with running_app(home) as base, chromium() as browser:
            for _ in range(repeats + 1):  # the first round loads the model: reported separately
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(180_000)
                page.goto(f"{base}/segment")
                page.locator("input[type='file']").first.wait_for(state="attached")
                start = time.perf_counter()
                page.locator("input[type='file']").first.set_input_files(str(photo))
                page.get_by_text(re.compile(r"Predicted classes")).first.wait_for()
                page.locator("[data-testid='stImage'] img").nth(1).wait_for()
                times.append(time.perf_counter() - start)
                context.close()
    return {
        "seconds": statistics.median(times[1:]),
        "first_with_model_load_s": times[0],
        "repeats": repeats,
        "all_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    print(json.dumps(measure_app_latency(parser.parse_args().repeats), indent=1))


if __name__ == "__main__":
    main()
