"""GIS out: orthomosaics segmented window by window, polygons (GeoJSON, GeoPackage), GPS-tagged flights, map jobs."""
