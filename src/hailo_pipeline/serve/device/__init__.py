"""The device process's side: the process that owns the accelerator, the engines it runs (a checked bundle on a
backend, host-side normalization and heads), the backends, and live parity."""
