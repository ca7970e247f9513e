"""The inference sidecar on each Pi, one folder per side of its process boundary:

- http/: the HTTP side: the app factory (app.py), module-level routers (edgeinfer.py: /infer, /healthz, /metrics;
  oip.py: /v2; control.py: /control), request parsing, the one inference path (exchange.infer) and the one
  refusal type (refusal.Refused).
- host/: the event loop's side: the device host (admission, windows in flight, restarts), the loop watch, the
  model registry (models.py: models, releases, switches).
- device/: the device process's side: the process that owns the accelerator, engines, backends, live parity.
- beside them, what the sides share: settings (the one table of settings), server (uvicorn, drain), metrics,
  wire (the frames between the processes), messages (DeviceAccess, LoadRequest, OpenEngine) and control (the
  loopback control listener).

The tools that talk to a running sidecar are in hailo_pipeline.clients.
"""
