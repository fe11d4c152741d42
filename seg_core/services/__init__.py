"""The guarded actions the app and the CLI both call: segment uploads, datasets, labelling, background predictions, exports."""
