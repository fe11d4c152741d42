"""The situation report and the building files, for the CLI (`python -m seg_core buildings`), the
Segment page (a batch of photos) and the Map page (a map folder). Plain data in and out.

    paths = write_situation(assessment, context, "out/")         # files + situation_report.pdf
    pdf = segment_batch_report(analyses, model_path)             # the Segment page's download
    pdf = map_folder_report(folder)                              # the Map page's download
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seg_core.buildings.export import write_building_files
from seg_core.buildings.records import predictor_scheme
from seg_core.buildings.sources import Assessment, assess_map_folder, assess_segmented_photo
from seg_core.imagery.gsd import Gsd, user_gsd
from seg_core.inference.identity import ModelIdentity, read_model_identity
from seg_core.reports.pdf import render_report
from seg_core.reports.situation import ReportContext, SituationReport
from seg_core.reports.tiles import TileBackground
from seg_core.schemes.scheme import HARVEY, LabelScheme

REPORT_FILE = "situation_report.pdf"
DEFAULT_TITLE = "Situation report"


def write_situation(assessment: Assessment, context: ReportContext, out: str | Path) -> list[Path]:
    """The building files, the report's figures table and the PDF, written into `out`."""
    out = Path(out)
    report = SituationReport(assessment, context)
    paths = write_building_files(assessment.records, out, report.figures())
    pdf = out / REPORT_FILE
    partial = pdf.with_name(pdf.name + ".partial")
    partial.write_bytes(render_report(report))
    partial.replace(pdf)
    return [*paths, pdf]


def tile_background(template: str | None, attribution: str = "") -> TileBackground | None:
    """The report's tile background from the user's URL template; None when it is blank."""
    template = (template or "").strip()
    return TileBackground(template, attribution.strip()) if template else None


def map_folder_report(
    folder: str | Path, title: str = DEFAULT_TITLE, tiles: TileBackground | None = None
) -> bytes:
    """The situation report of a map folder (the Map page's download), over `tiles` where set.

    Raises:
        ValueError: the folder holds nothing to assess (the message names it).
    """
    model, scheme = read_model_identity(Path(folder))
    assessment = assess_map_folder(Path(folder), scheme, model)
    return render_report(SituationReport(assessment, ReportContext(title, model, scheme, tiles=tiles)))


def _photo_geo(source: bytes | Path, name: str):
    """The photo's GPS and camera header, or None when it has none that reads."""
    from seg_core.imagery.camera import read_photo_geo
    from seg_core.imagery.imageio import ImageReadError

    try:
        if isinstance(source, bytes):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(name).name
                path.write_bytes(source)
                return read_photo_geo(path)
        return read_photo_geo(source)
    except ImageReadError:
        return None


def assess_segment_batch(
    analyses: Sequence, model: ModelIdentity, scheme: LabelScheme = HARVEY
) -> Assessment:
    """Buildings of the Segment page's analysed photos (`services.analysis.PhotoAnalysis`).

    Confidence comes from the page's display-size uncertainty map (long side 1600 px), which
    saturates at an uncertainty of `analysis.UNCERTAINTY_FULL_SCALE`: the uncertain share is exact,
    the mean top-class probability a floor-limited estimate (the CLI measures both at full size).
    """
    from seg_core.imagery.camera import photo_gsd
    from seg_core.services.analysis import UNCERTAINTY_FULL_SCALE

    assessment = Assessment()
    for analysis in analyses:
        geo = _photo_geo(analysis.source, analysis.name)
        gsd: Gsd | None = user_gsd(analysis.stats.gsd_cm, "the page's GSD") if analysis.stats.gsd_cm else None
        if gsd is None and geo is not None:
            gsd = photo_gsd(geo)[0]
        confidence = None
        if analysis.uncertainty is not None:  # uint8 over [0, UNCERTAINTY_FULL_SCALE] of 1 - top probability
            confidence = 1.0 - analysis.uncertainty.astype(np.float32) * (UNCERTAINTY_FULL_SCALE / 255)
        assessment += assess_segmented_photo(
            analysis.name, analysis.full_mask(), scheme, model, gsd, geo, confidence, analysis.photo
        )
        if analysis.stats.familiarity:
            assessment.familiarity.append(analysis.stats.familiarity | {"name": analysis.name})
    return assessment


def segment_batch_report(analyses: Sequence, predictor, model_name: str, title: str = DEFAULT_TITLE) -> bytes:
    """The Segment page's situation report for a batch, made with `predictor` (its metadata and scheme)."""
    model = ModelIdentity.from_meta(predictor.meta, model_name)
    scheme = predictor_scheme(predictor)
    assessment = assess_segment_batch(analyses, model, scheme)
    return render_report(SituationReport(assessment, ReportContext(title, model, scheme)))
