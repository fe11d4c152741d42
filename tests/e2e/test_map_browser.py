"""The Map page in a real browser: a GeoTIFF upload reaches the map and its overlay."""

from __future__ import annotations

import pytest
from geo_helpers import write_geotiff
from harness import no_traceback

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_geotiff_upload_reaches_the_map_and_the_overlay(app_server, page, tmp_path):
    base, _ = app_server
    ortho = write_geotiff(tmp_path / "ortho.tif", width=512, height=384, pixel=0.117, bands=4, alpha=True)
    page.goto(f"{base}/map")
    page.wait_for_selector("[data-testid='stSidebarNav']")
    page.get_by_text("Make a map").first.wait_for()
    page.locator("input[type='file']").first.set_input_files(str(ortho))
    page.get_by_role("button", name="Make the map").click()
    marker = page.locator(".js-plotly-plot .scatterlayer .point").first
    marker.wait_for(timeout=180_000)
    assert "metres east of" in page.content()  # the offline metre grid, no base map
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()  # plotly's drag layer takes the events and finds the point itself
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("downsampled overlay").first.wait_for(timeout=60_000)
    page.get_by_text("ortho_classes.tif").first.wait_for()
    no_traceback(page)
    page.screenshot(path=str(tmp_path / "map.png"), full_page=True)


def test_a_geotiff_uploaded_on_segment_reaches_its_overlay_downloads_and_the_map(app_server, page, tmp_path):
    base, _ = app_server
    ortho = write_geotiff(tmp_path / "segortho.tif", width=512, height=384, pixel=0.117, bands=4, alpha=True)
    page.goto(f"{base}/segment")
    page.wait_for_selector("[data-testid='stSidebarNav']")
    page.locator("input[type='file']").first.set_input_files(str(ortho))
    page.get_by_text("shown downsampled with its predicted classes").first.wait_for(timeout=180_000)
    for name in ("segortho_classes.tif", "segortho_classes.geojson", "segortho_classes.gpkg"):
        page.get_by_role("button", name=name).wait_for()
    page.get_by_text("Area mapped").first.wait_for()
    no_traceback(page)
    page.screenshot(path=str(tmp_path / "segment_geotiff.png"), full_page=True)
    page.get_by_role("link", name="See it on the Map page").click()
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=60_000)
    assert "segortho" in page.content()
    no_traceback(page)
