"""Model to mask: the torch and ONNX Runtime predictors (tiling, TTA), export and int8 quantisation, batches over folders and predict's output folder."""
