"""Files to arrays: class scheme, image I/O, dataset discovery and validation, cache, augmentation, synthetic scenes."""
