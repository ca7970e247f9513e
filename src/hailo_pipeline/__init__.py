"""hailo_pipeline: build IMU models into Hailo-8 release bundles and serve them to EdgeInfer.

Subpackages follow the job, each importing only those below it (import-linter contracts in pyproject.toml):

    cli       the hailo-pipeline command
    serve/    the sidecar on each Pi (reads bundles with build/'s manifest and checksums)
    build/    GPUSrv's job for one model, ending in the release bundle
    hailo/    the vendor boundary (DFC, HailoRT, HEF)  |  model/  the graph side (PyTorch, ONNX)
    errors    the one exception type every layer raises
"""

from importlib.metadata import version

__version__ = version("hailo-pipeline")
