"""Write the docs' training settings table (docs/reference/settings.md) from the settings'
declarations.

    python scripts/settings_table.py          # rewrite the table
    python scripts/settings_table.py --check  # exit 1 when the table is out of date

`tests/test_settings.py` fails when the page's table differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seg_core.training.config import TrainConfig  # noqa: E402 - after the path above
from seg_core.training.settings import replace_table, settings_table  # noqa: E402


def main(argv: list[str]) -> int:
    page = ROOT / "docs" / "reference" / "settings.md"
    text = page.read_text()
    updated = replace_table(text, settings_table(TrainConfig))
    if "--check" in argv:
        if updated != text:
            print(
                f"{page.relative_to(ROOT)}: the settings table is out of date; run python scripts/settings_table.py"
            )
            return 1
        return 0
    if updated != text:
        page.write_text(updated)
        print(f"{page.relative_to(ROOT)}: settings table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
