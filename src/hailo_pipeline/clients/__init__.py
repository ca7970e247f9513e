"""Client tools that talk to a running sidecar from outside it: bench (closed-loop load), probe (a release is
live and reproduces its golden vectors), switch (the control listener's client), metrics_gateway (the sidecar's
/metrics and /healthz for the fleet's Prometheus). They import nothing of serve/: HTTP is their only link."""
