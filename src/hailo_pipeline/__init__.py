"""hailo_pipeline: build IMU models into Hailo-8 release bundles and serve them to EdgeInfer.

Subpackages follow the job, each importing only those below it (import-linter contracts in pyproject.toml):

    cli/      the hailo-pipeline command, one module per command group
    serve/    the sidecar on each Pi  |  clients/  the tools that talk to it (bench, probe, switch, gateway)
    builder/  GPUSrv's job for one model, ending in the release bundle
    bundle/   the release bundle format both sides share (manifest, sums, signature, golden, heads)
    hailo/    the vendor boundary (DFC, HailoRT, HEF)  |  model/  the graph side (PyTorch, ONNX)
    fleet/    the fleet seen from the controller (tailnet)
    errors    the one exception type every layer raises
"""

from importlib.metadata import version

__version__ = version("hailo-pipeline")
