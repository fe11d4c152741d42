"""Where a drone photo was taken and its ground sampling distance, from EXIF GPS and DJI/Autel XMP.

    geo = read_photo_geo("DJI_0042.JPG")
    gsd, why_not = photo_gsd(geo)          # Gsd(2.1, "xmp", ...) or (None, "one sentence")

GSD of a nadir photo: cm/px = height above ground x sensor width / (focal length x image width).
The height is XMP `RelativeAltitude` (DJI `drone-dji:`, Autel and others under their own
prefix: any `<prefix>:RelativeAltitude`), which is above the take-off point: right over flat
ground, the usual case for flood surveys. EXIF GPSAltitude is above sea level and is never used
as a flying height; without a relative altitude the user must give the height or the GSD.
Sensor width comes from EXIF FocalPlaneXResolution, else from the 35 mm-equivalent focal length
(sensor diagonal = 43.27 mm x focal / focal35), else from the user.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from seg_core.imagery.gsd import Gsd, user_gsd
from seg_core.imagery.imageio import DECODE_ERRORS, ImageReadError, open_checked

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
GPS_IMG_DIRECTION_REF, GPS_IMG_DIRECTION = 16, 17  # "T" true or "M" magnetic north; degrees
FOCAL_LENGTH, FOCAL_35MM, FOCAL_PLANE_X_RES, FOCAL_PLANE_UNIT = 0x920A, 0xA405, 0xA20E, 0xA210
FOCAL_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF: inch, cm, mm, micrometre
FULL_FRAME_DIAGONAL_MM = 43.27
NADIR_TOLERANCE_DEG = 10.0  # within 10 deg of straight down the GSD varies < 2% across the frame
_XMP_NUMBER = r"\s*([+-]?\d+(?:\.\d+)?)"


def _xmp_value(xmp: str, name: str) -> float | None:
    """A number stored as `prefix:Name="12.3"` or `<prefix:Name>12.3</prefix:Name>`."""
    match = re.search(rf"[\w-]+:{name}\s*=\s*[\"']{_XMP_NUMBER}", xmp) or re.search(
        rf"<[\w-]+:{name}>{_XMP_NUMBER}", xmp
    )
    return float(match.group(1)) if match else None


@dataclass(frozen=True)
class PhotoGeo:
    """Position and camera of one photo; None where the photo does not say.

    Attributes:
        name: the photo's file name.
        width, height: pixels as stored (before EXIF rotation).
        latitude, longitude: WGS84 degrees from EXIF GPS (None when absent).
        altitude_asl_m: EXIF GPSAltitude, above sea level (shown, never used as flying height).
        relative_altitude_m: XMP RelativeAltitude, above the take-off point.
        gimbal_pitch_deg: XMP GimbalPitchDegree (-90 looks straight down).
        heading_deg: where the photo's top faces, degrees clockwise from true north: XMP
            GimbalYawDegree (the camera's own heading), else FlightYawDegree (the aircraft's), else
            EXIF GPSImgDirection when it is referred to true north (a magnetic one is off by the
            local declination, unknown here, so it is not used).
        focal_mm, focal_35mm: EXIF focal length and its 35 mm equivalent.
        sensor_width_mm: from FocalPlaneXResolution or the 35 mm equivalent.
        problems: why the position is unusable, in sentences (e.g. nonsense coordinates).
    """

    name: str
    width: int
    height: int
    latitude: float | None = None
    longitude: float | None = None
    altitude_asl_m: float | None = None
    relative_altitude_m: float | None = None
    gimbal_pitch_deg: float | None = None
    heading_deg: float | None = None
    focal_mm: float | None = None
    focal_35mm: float | None = None
    sensor_width_mm: float | None = None
    problems: tuple[str, ...] = ()

    @property
    def has_position(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def _first_number(*values: float | None) -> float | None:
    """The first value that is not None (0 is a heading, not a missing one)."""
    return next((v for v in values if v is not None), None)


def _exif_heading(gps: dict) -> float | None:
    """EXIF GPSImgDirection, where it is referred to true north."""
    if str(gps.get(GPS_IMG_DIRECTION_REF, "")).strip().upper() != "T":
        return None
    return _float(gps.get(GPS_IMG_DIRECTION))


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    sign = -1 if str(ref).strip().upper() in ("S", "W") else 1
    return sign * (d + m / 60 + s / 3600)


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _sensor_width(exif_ifd: dict, stored_width: int, stored_height: int, focal: float | None) -> float | None:
    resolution, unit = _float(exif_ifd.get(FOCAL_PLANE_X_RES)), exif_ifd.get(FOCAL_PLANE_UNIT, 2)
    if resolution and resolution > 0 and unit in FOCAL_PLANE_UNIT_MM:
        return max(stored_width, stored_height) / resolution * FOCAL_PLANE_UNIT_MM[unit]
    focal_35 = _float(exif_ifd.get(FOCAL_35MM))
    if focal and focal_35 and focal_35 > 0:
        diagonal = FULL_FRAME_DIAGONAL_MM * focal / focal_35
        long_side, short_side = max(stored_width, stored_height), min(stored_width, stored_height)
        return diagonal * long_side / math.hypot(long_side, short_side)
    return None


def read_photo_geo(path: str | Path) -> PhotoGeo:
    """GPS position and camera geometry of a photo, from its header (pixels are not decoded).

    Raises:
        ImageReadError: not a readable image.
    """
    image = open_checked(path)
    name = Path(path).name
    try:
        exif = image.getexif()
        gps, exif_ifd = exif.get_ifd(GPS_IFD), exif.get_ifd(EXIF_IFD)
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    except DECODE_ERRORS as exc:
        raise ImageReadError(f"{name}: its EXIF header is damaged ({exc})") from None
    finally:
        image.close()
    xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    width, height = image.size
    lat, lon = _degrees(gps.get(2), gps.get(1, "N")), _degrees(gps.get(4), gps.get(3, "E"))
    problems = []
    if (lat is None) != (lon is None) or (lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)):
        problems.append(f"{name}: its GPS position ({lat}, {lon}) is not a valid latitude/longitude")
        lat = lon = None
    elif lat == 0 and lon == 0:
        problems.append(f"{name}: its GPS position is 0,0 (a receiver without a fix writes that)")
        lat = lon = None
    altitude = _float(gps.get(6))
    if altitude is not None and gps.get(5) in (1, b"\x01"):
        altitude = -altitude  # GPSAltitudeRef 1: below sea level
    focal = _float(exif_ifd.get(FOCAL_LENGTH))
    return PhotoGeo(
        name=name,
        width=width,
        height=height,
        latitude=lat,
        longitude=lon,
        altitude_asl_m=altitude,
        relative_altitude_m=_xmp_value(xmp, "RelativeAltitude"),
        gimbal_pitch_deg=_xmp_value(xmp, "GimbalPitchDegree") or _xmp_value(xmp, "GimbalPitch"),
        heading_deg=_first_number(
            _xmp_value(xmp, "GimbalYawDegree"), _xmp_value(xmp, "FlightYawDegree"), _exif_heading(gps)
        ),
        focal_mm=focal,
        focal_35mm=_float(exif_ifd.get(FOCAL_35MM)),
        sensor_width_mm=_sensor_width(exif_ifd, width, height, focal),
        problems=tuple(problems),
    )


def photo_gsd(
    geo: PhotoGeo,
    flight_height_m: float | None = None,
    gsd_cm: float | None = None,
    sensor_width_mm: float | None = None,
) -> tuple[Gsd | None, str | None]:
    """The photo's GSD and its source, or (None, a sentence saying what is missing).

    A user GSD wins; then the flying height (user's, else XMP relative altitude) with the focal
    length and sensor width. Oblique photos (gimbal pitch more than 10 deg from -90) get none.
    """
    if gsd_cm is not None:
        return user_gsd(gsd_cm), None
    pitch = geo.gimbal_pitch_deg
    if pitch is not None and abs(pitch + 90) > NADIR_TOLERANCE_DEG:
        return (
            None,
            f"{geo.name}: oblique photo (gimbal pitch {pitch:.0f} deg): its GSD varies across the frame",
        )
    if flight_height_m is not None:
        if not (math.isfinite(flight_height_m) and 0 < flight_height_m <= 2000):
            raise ValueError(f"--flight-height {flight_height_m} must be between 0 and 2000 m above ground")
        height, source, what = flight_height_m, "user", "flying height given"
    elif geo.relative_altitude_m is not None and geo.relative_altitude_m > 0:
        height, source, what = geo.relative_altitude_m, "xmp", "XMP relative altitude"
    else:
        return None, (
            f"{geo.name}: no height above ground (XMP RelativeAltitude) and EXIF GPS altitude is above "
            "sea level: give the flying height (--flight-height) or the GSD (--gsd)"
        )
    sensor = sensor_width_mm or geo.sensor_width_mm
    if not geo.focal_mm or not sensor:
        return (
            None,
            f"{geo.name}: no focal length or sensor width in EXIF: give the GSD (--gsd) or --sensor-width",
        )
    cm = height * 100 * sensor / (geo.focal_mm * max(geo.width, geo.height))
    detail = f"{what} {height:.1f} m, focal {geo.focal_mm:.2f} mm, sensor {sensor:.2f} mm"
    return Gsd(cm, source, detail), None


def tag_photo(
    image: Image.Image,
    path: str | Path,
    latitude: float,
    longitude: float,
    altitude_asl_m: float | None = None,
    relative_altitude_m: float | None = None,
    focal_mm: float = 8.8,
    focal_35mm: float = 24.0,
    gimbal_pitch_deg: float = -90.0,
    heading_deg: float | None = None,
) -> Path:
    """Save a JPEG with EXIF GPS, focal lengths and a DJI-style XMP packet (demo data and tests;
    the camera defaults are a DJI Phantom 4 Pro's 1" sensor)."""
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)

    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees, minutes = int(value), int(value * 60) % 60
        return (float(degrees), float(minutes), round((value * 3600) % 60, 4))

    gps.update(
        {
            1: "N" if latitude >= 0 else "S",
            2: dms(latitude),
            3: "E" if longitude >= 0 else "W",
            4: dms(longitude),
        }
    )
    if altitude_asl_m is not None:
        gps.update({5: 0 if altitude_asl_m >= 0 else 1, 6: abs(float(altitude_asl_m))})
    if heading_deg is not None:
        gps.update({GPS_IMG_DIRECTION_REF: "T", GPS_IMG_DIRECTION: float(heading_deg % 360)})
    exif.get_ifd(EXIF_IFD).update({FOCAL_LENGTH: float(focal_mm), FOCAL_35MM: int(focal_35mm)})
    attributes = f'drone-dji:GimbalPitchDegree="{gimbal_pitch_deg:+.1f}"'
    if heading_deg is not None:
        attributes += f' drone-dji:GimbalYawDegree="{heading_deg:+.1f}"'
    if relative_altitude_m is not None:
        attributes += f' drone-dji:RelativeAltitude="{relative_altitude_m:+.2f}"'
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" {attributes}/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    path = Path(path)
    image.convert("RGB").save(path, "JPEG", quality=90, exif=exif, xmp=xmp.encode())
    return path
