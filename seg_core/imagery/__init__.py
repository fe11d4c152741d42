"""Photos and rasters in: image decoding (EXIF orientation, size guards), GeoTIFF windows, camera EXIF/XMP, ground sampling distance rules."""
