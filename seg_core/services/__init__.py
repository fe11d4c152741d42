"""The guarded actions the app and the CLI both call, each taking a `Caller` (caller.py): runs
(start, resume, stop, take out of the queue, delete), the study, segment uploads, datasets,
labelling, background predictions, exports."""
