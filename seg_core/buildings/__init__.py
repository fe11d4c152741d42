"""Buildings: one record per structure from a class mask (footprint, area, damage level in FEMA's
five, flood status, confidence, where it was seen and by which model), and the files responders
file them in (GeoPackage, zipped shapefile, file geodatabase, GeoJSON, CSV).

    footprints = building_footprints(mask, scheme, metres_per_px)        # instances, polygons
    records = assess_mask(mask, scheme, source, model, confidence, georef)  # graded records
    write_building_files(records, out_dir)

Everything reads the label scheme's roles (`seg_core.schemes.scheme`), never a literal class id.
"""
