"""Reports for responders: the situation report PDF (map, summary tables, the worst buildings,
method and caveats), georeferenced where its imagery is."""
