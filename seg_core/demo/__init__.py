"""Synthetic storm scenes: the demo dataset's generator (storm styles) and the georeferenced demo orthomosaic and flight."""
