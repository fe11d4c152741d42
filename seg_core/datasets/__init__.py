"""Datasets for training and scoring: image/mask pairs found and validated, the decoded-array cache, loaders and augmentation."""
