"""Stage train: the network, its presets and datasets, training, metrics, the model registry,
ONNX export."""
