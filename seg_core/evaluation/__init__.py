"""Scores: the confusion-matrix metrics (Kaggle Dice, IoU) and evaluating a checkpoint on a dataset."""
