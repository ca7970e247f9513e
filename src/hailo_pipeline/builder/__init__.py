"""GPUSrv's job for one model: spec, calibration, motif head, gates, compile stage and the release bundle."""
