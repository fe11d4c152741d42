"""Georeferencing a page of a PDF so a GIS can place its map (the ISO 32000 geospatial encoding:
Adobe's supplement to ISO 32000, BaseVersion 1.7 ExtensionLevel 3, kept in ISO 32000-2).

    georeference_page(pdf_bytes, page=0, bbox_pt=(x0, y0, x1, y1), crs_wkt=utm, corners=...)

The page gets a viewport (`/VP`) over the map's rectangle whose measure dictionary (`/Measure`,
subtype `/GEO`) ties the rectangle's four corners (`/LPTS`, unit square) to their latitude and
longitude (`/GPTS`) and names the map's CRS (`/GCS`, WKT). GDAL's PDF driver writes the same
dictionaries (`GEO_ENCODING=ISO32000`, its default); tests compare ours with the ones it writes for
the same extent.

The page is amended by an incremental update (PDF 1.7 section 7.5.6): the page object is written
again, with `/VP` added, after the original bytes, with a new cross-reference section and trailer
pointing back to the old one, so nothing the renderer wrote is rewritten.
"""

from __future__ import annotations

import re

# A dictionary object (no stream); the tempered dot never crosses into the next object.
_OBJECT = re.compile(rb"(\d+) 0 obj\s*(<<(?:(?!endobj).)*?>>)\s*endobj", re.S)
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_TRAILER = re.compile(rb"trailer\s*(<<.*?>>)\s*startxref", re.S)


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _page_objects(pdf: bytes) -> list[tuple[int, bytes]]:
    """(object number, dictionary) of every page, in document order of definition."""
    pages = []
    for match in _OBJECT.finditer(pdf):
        dictionary = match.group(2)
        if re.search(rb"/Type\s*/Page(?![a-zA-Z])", dictionary):
            pages.append((int(match.group(1)), dictionary))
    return pages


def georeference_page(
    pdf: bytes,
    page: int,
    bbox_pt: tuple[float, float, float, float],
    crs_wkt: str,
    corners_latlon: list[tuple[float, float]],
    name: str = "Map",
) -> bytes:
    """The PDF with page `page` (0-based) georeferenced over `bbox_pt`.

    Args:
        pdf: a PDF with an uncompressed cross-reference table (as matplotlib writes).
        page: which page holds the map.
        bbox_pt: the map rectangle on the page in points (x0, y0, x1, y1), origin bottom left.
        crs_wkt: the map's CRS.
        corners_latlon: (latitude, longitude) of the rectangle's corners in the order bottom left,
            top left, top right, bottom right.
        name: the viewport's name as GIS software lists it.

    Raises:
        ValueError: the PDF is not one this function can amend (no such page, no xref table).
    """
    pages = _page_objects(pdf)
    end = _STARTXREF.search(pdf)
    trailer = _TRAILER.findall(pdf)
    if not (0 <= page < len(pages)) or end is None or not trailer:
        raise ValueError(
            f"cannot georeference page {page}: the PDF has {len(pages)} page(s) or no xref table"
        )
    number, dictionary = pages[page]
    size = int(re.search(rb"/Size\s+(\d+)", trailer[-1]).group(1))
    root = re.search(rb"/Root\s+\d+\s+\d+\s+R", trailer[-1]).group(0).decode()
    info = re.search(rb"/Info\s+\d+\s+\d+\s+R", trailer[-1])
    measure, gcs = size, size + 1
    gpts = " ".join(f"{lat:.10f} {lon:.10f}" for lat, lon in corners_latlon)
    x0, y0, x1, y1 = bbox_pt
    viewport = f"/VP [ << /Type /Viewport /BBox [ {x0:.3f} {y0:.3f} {x1:.3f} {y1:.3f} ] /Name {_pdf_string(name)} /Measure {measure} 0 R >> ]"
    objects = {
        number: dictionary[:-2].rstrip() + f" {viewport} >>".encode(),
        measure: (
            f"<< /Type /Measure /Subtype /GEO /Bounds [ 0 0 0 1 1 1 1 0 ] /GPTS [ {gpts} ] "
            f"/LPTS [ 0 0 0 1 1 1 1 0 ] /GCS {gcs} 0 R >>"
        ).encode(),
        gcs: f"<< /Type /{'GEOGCS' if crs_wkt.lstrip().upper().startswith(('GEOGCS', 'GEOGCRS')) else 'PROJCS'} /WKT {_pdf_string(crs_wkt)} >>".encode(),
    }
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for obj, body in objects.items():
        offsets[obj] = len(out)
        out += f"{obj} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for obj in sorted(offsets):
        out += f"{obj} 1\n{offsets[obj]:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {gcs + 1} {root} {info.group(0).decode() if info else ''} /Prev {end.group(1).decode()} >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def read_georeference(pdf: bytes, page: int = 0) -> dict | None:
    """The latest /VP of a page, as {"bbox", "gpts", "lpts", "wkt"}; None when it has none.

    Reads the last definition of each object (an incremental update's), enough to check what
    `georeference_page` or GDAL wrote."""
    objects: dict[int, bytes] = {}
    for match in _OBJECT.finditer(pdf):
        objects[int(match.group(1))] = match.group(2)
    pages = [n for n, d in objects.items() if re.search(rb"/Type\s*/Page(?![a-zA-Z])", d)]
    if page >= len(pages):
        return None
    dictionary = objects[sorted(pages)[page]]
    viewport = re.search(rb"/VP\s*\[\s*(?:(\d+) 0 R|(<<.*?>>)\s*\])", dictionary, re.S)
    if viewport is None:
        return None
    body = objects[int(viewport.group(1))] if viewport.group(1) else viewport.group(2)
    measure = objects[int(re.search(rb"/Measure\s+(\d+) 0 R", body).group(1))]
    gcs = objects[int(re.search(rb"/GCS\s+(\d+) 0 R", measure).group(1))]

    def numbers(key: bytes, text: bytes) -> list[float]:
        return [float(v) for v in re.search(rb"/" + key + rb"\s*\[([^\]]*)\]", text).group(1).split()]

    wkt = (
        re.search(rb"/WKT\s*\((.*)\)\s*(?:/|>>)", gcs, re.S)
        .group(1)
        .replace(b"\\(", b"(")
        .replace(b"\\)", b")")
    )
    return {
        "bbox": numbers(b"BBox", body),
        "gpts": numbers(b"GPTS", measure),
        "lpts": numbers(b"LPTS", measure),
        "wkt": wkt.decode(),
    }
