"""The EdgeInfer stand-in as a subprocess (tests/unit/test_edgeinfer_standin.py's fixture), for the rollout's records."""

from tests.unit.test_edgeinfer_standin import start_standin

__all__ = ["start_standin"]
