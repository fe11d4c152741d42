"""Memory stays flat over many predictions through the Segment page's path.

A reduced run of bench/memory_soak.py (12 photos of 1600x1200 instead of 50 of 12 MP, a tiny
model instead of the demo one) in its own process, so the RSS is the soak's alone. The full soak's
figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from test_infer import _meta

from seg_core.core import paths
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint

PHOTOS, WARMUP = 12, 3
GROWTH_BOUND_MB = 60.0


@pytest.mark.slow
def test_rss_stays_flat_over_consecutive_predictions(tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    checkpoint = save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(resolution=256)}, tmp_path / "best.pt"
    )
    soak = subprocess.run(
        [
            sys.executable,
            "bench/memory_soak.py",
            "--count",
            str(PHOTOS),
            "--size",
            "1600x1200",
            "--warmup",
            str(WARMUP),
            "--scenes",
            "1",
            "--checkpoint",
            str(checkpoint),
            "--json",
        ],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert soak.returncode == 0, soak.stderr[-3000:]
    result = json.loads(soak.stdout)
    print(f"\nmemory soak (reduced): {json.dumps({k: v for k, v in result.items() if k != 'rss_mb'})}")
    assert len(result["rss_mb"]) == PHOTOS
    # Not vacuous: had each photo's result stayed in memory, the growth would pass the bound.
    assert result["result_mb"] * (PHOTOS - WARMUP) > GROWTH_BOUND_MB
    assert result["growth_after_warmup_mb"] < GROWTH_BOUND_MB, result["rss_mb"]
    assert result["max_growth_after_warmup_mb"] < GROWTH_BOUND_MB, result["rss_mb"]
