"""The event loop's side of the process boundary: the device host (admission, windows in flight, restarts),
the loop watch, and the model registry (models, releases, switches)."""
