"""Training and evaluating the interference predictor. Needs the `train` extra (PyTorch, onnx,
scikit-learn); nothing at run time imports it."""
