"""The report map's optional tile background, offline: a local tile server (a thread on localhost)
and a local tile folder (file:///), rendered with pdftoppm and read back pixel by pixel; every
failure (404, unreachable, bad template, photos without georeference) leaves the plain background
and one caveat sentence."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image
from test_situation_report import MODEL, RESCUENET, damage_scene, georeferenced_assessment, pdf_text

from seg_core.buildings.sources import assess_segmented_photo
from seg_core.imagery.gsd import Gsd
from seg_core.reports.mapplot import BACKGROUND
from seg_core.reports.pdf import MAP_BOX
from seg_core.reports.situation import ReportContext
from seg_core.reports.tiles import MAX_TILES, TileBackground, TileError, choose_zoom, tile_index, tile_url
from seg_core.services.situation import REPORT_FILE, write_situation

pytestmark = pytest.mark.skipif(
    not shutil.which("pdftoppm"), reason="poppler-utils (pdftotext, pdftoppm) not installed"
)
MAGENTA = (255, 0, 255)
CYAN = (0, 255, 255)
NOT_DRAWN = "The map's tile background was not drawn"


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server():
    """http://127.0.0.1:PORT/ok/{z}/{x}/{y}.png is magenta; /missing/... answers 404."""
    requested: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requested.append(self.path)
            if not self.path.startswith("/ok/"):
                self.send_error(404)
                return
            body = png(MAGENTA)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requested
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def assessment():
    return georeferenced_assessment()


def render(assessment, tiles, out) -> tuple[np.ndarray, str]:
    """(the map page as RGB pixels at 40 dpi, the report's text)."""
    write_situation(assessment, ReportContext("Tiles", MODEL, RESCUENET, tiles=tiles), out)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(out / REPORT_FILE), str(out / "page")],
        check=True,
    )
    (page,) = out.glob("page-*.png")
    return np.asarray(Image.open(page).convert("RGB")), pdf_text(out / REPORT_FILE)


def map_corner(pixels: np.ndarray) -> np.ndarray:
    """A pixel inside the map box's top left corner, clear of footprints, legend, arrow and scale."""
    left, bottom, _, height = MAP_BOX
    rows, cols = pixels.shape[:2]
    return pixels[int(rows * (1 - bottom - height) + 6), int(cols * left + 6)].astype(int)


def near(pixel, colour, tolerance=12) -> bool:
    return int(np.abs(pixel - np.array(colour)).sum()) <= tolerance


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_a_tile_server_is_drawn_under_the_map_with_its_attribution(assessment, server, tmp_path):
    base, requested = server
    requested.clear()
    tiles = TileBackground(base + "/ok/{z}/{x}/{y}.png", "© Test tiles contributors")
    pixels, text = render(assessment, tiles, tmp_path)
    assert near(map_corner(pixels), MAGENTA)
    assert "© Test tiles contributors" in text
    assert NOT_DRAWN not in text
    assert 1 <= len(requested) <= MAX_TILES
    zooms = {int(p.split("/")[2]) for p in requested}
    assert len(zooms) == 1 and zooms.pop() >= 16  # a few hundred metres of houses: street-level tiles


def test_a_local_tile_folder_works_offline(assessment, server, tmp_path):
    base, requested = server
    requested.clear()
    TileBackground(base + "/ok/{z}/{x}/{y}.png").draw(*_probe_axes(assessment))
    folder = tmp_path / "tiles"
    for path in requested:  # the same tiles, cyan, on disk
        tile = folder / path.removeprefix("/ok/")
        tile.parent.mkdir(parents=True, exist_ok=True)
        tile.write_bytes(png(CYAN))
    pixels, text = render(assessment, TileBackground(f"file://{folder}/{{z}}/{{x}}/{{y}}.png"), tmp_path)
    assert near(map_corner(pixels), CYAN)
    assert "Background tiles: local folder" in text
    assert NOT_DRAWN not in text


def _probe_axes(assessment):
    """An axes like the map page's, drawn once without tiles: (ax, crs, xlim, ylim) for `draw`."""
    from matplotlib.figure import Figure
    from pyproj import CRS

    from seg_core.reports.mapplot import draw_georeferenced
    from seg_core.reports.pdf import A4_PORTRAIT

    ax = Figure(figsize=A4_PORTRAIT).add_axes(MAP_BOX)
    frames = [i["footprint_wgs84"] for i in assessment.imagery]
    frame = draw_georeferenced(ax, assessment.records, frames, True)
    return ax, CRS.from_wkt(frame.crs_wkt), frame.xlim, frame.ylim


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{base}/missing/{{z}}/{{x}}/{{y}}.png", "answered 404"),
        ("http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png", "could not be read"),
        ("https://tile.example/tile.png", "lacks {z}, {x}, {y}"),
        ("ftp://tile.example/{{z}}/{{x}}/{{y}}.png", "neither http(s):// nor file:///"),
        ("file:///nowhere/{{z}}/{{x}}/{{y}}.png", "could not be read"),
    ],
    ids=["404", "unreachable", "no-placeholders", "ftp", "missing-folder"],
)
def test_a_failing_tile_source_leaves_the_plain_background_and_one_caveat(
    assessment, server, tmp_path, template, reason
):
    url = template.format(base=server[0], port=closed_port())
    pixels, text = render(assessment, TileBackground(url), tmp_path)
    assert near(map_corner(pixels), hex_rgb(BACKGROUND))
    flat = " ".join(text.split())
    assert NOT_DRAWN in flat and reason in flat and "plain background instead" in flat


def test_photos_without_georeference_get_no_tiles_and_say_why(tmp_path, server):
    plain = assess_segmented_photo("plain.png", damage_scene(), RESCUENET, MODEL, Gsd(7.5, "user"))
    _, text = render(plain, TileBackground(server[0] + "/ok/{z}/{x}/{y}.png"), tmp_path)
    assert f"{NOT_DRAWN} (the imagery is not georeferenced)" in " ".join(text.split())


def test_tile_arithmetic():
    assert tile_index(0.0, 0.0, 1) == (1, 1)
    assert tile_index(-180.0, 85.0, 3) == (0, 0)
    z = choose_zoom(-95.372, 29.758, -95.368, 29.762)  # about 400 m
    (x0, y0), (x1, y1) = tile_index(-95.372, 29.762, z), tile_index(-95.368, 29.758, z)
    assert (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES
    (x0, y0), (x1, y1) = tile_index(-95.372, 29.762, z + 1), tile_index(-95.368, 29.758, z + 1)
    assert (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES  # the deepest zoom that fits
    assert tile_url("/data/t/{z}/{x}/{y}.png", 3, 1, 2) == "file:///data/t/3/1/2.png"
    assert tile_url("https://{s}.tile.example/{z}/{x}/{y}.png", 3, 1, 2) == "https://a.tile.example/3/1/2.png"
    with pytest.raises(TileError, match="lacks"):
        tile_url("https://tile.example/{z}.png", 1, 0, 0)


def test_the_cli_and_the_map_page_draw_the_tiles_of_a_map_folder(tmp_path, server, capsys):
    from test_situation_report import write_map_folder

    from seg_core.cli import main
    from seg_core.services.situation import map_folder_report, tile_background

    folder, _ = write_map_folder(tmp_path / "map")
    template = server[0] + "/ok/{z}/{x}/{y}.png"
    args = ["buildings", "--map-folder", str(folder), "--out", str(tmp_path / "out"), "--tiles", template]
    assert main([*args, "--tile-attribution", "© Local tiles"]) == 0
    assert "© Local tiles" in pdf_text(tmp_path / "out" / REPORT_FILE)
    assert tile_background("  ") is None
    (tmp_path / "page.pdf").write_bytes(map_folder_report(folder, tiles=tile_background(template)))
    text = pdf_text(tmp_path / "page.pdf")
    assert "Background tiles: 127.0.0.1" in text and NOT_DRAWN not in text
