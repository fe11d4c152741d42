"""GIS out: orthomosaics segmented window by window, polygons (GeoJSON, GeoPackage), GPS-tagged flights, map jobs."""

# The class GeoTIFF's nodata value: outside every scheme's ids (at most 255 classes, ids 0..254),
# written where the mosaic has no valid pixels or a window was not done.
NODATA = 255
# GeoTIFF metadata tag holding the label scheme of a class GeoTIFF (`LabelScheme.to_dict` as JSON).
SCHEME_TAG = "STORMSEG_SCHEME"
