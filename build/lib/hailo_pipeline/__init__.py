"""hailo_pipeline: build IMU models into Hailo-8 release bundles and serve them to EdgeInfer."""

from importlib.metadata import version

__version__ = version("hailo-pipeline")
