"""The sidecar on each Pi: the HTTP app EdgeInfer calls, its worker, backends, metrics, probe and bench."""
