"""The graph side: architectures and checkpoints, export to ONNX, the Hailo-compatible rewrite and preflight."""
