"""The benchmarks: each measures this machine against an issue's targets and prints its figures; none is a test
(pytest collects no module here). Run them from the repository's top folder, in the venv:

    python -m tests.benchmarks.bench_toolkit    the model toolkit (export, rewrite, preflight, build)
    python -m tests.benchmarks.bench_advisor    what the INT8 advisor adds to a build
    python -m tests.benchmarks.bench_sidecar    the sidecar's latency, throughput and memory
    python -m tests.benchmarks.bench_overload   goodput under overload (needs wrk)
    python -m tests.benchmarks.bench_switch     what each kind of release switch costs EdgeInfer
    python -m tests.benchmarks.bench_models     a second model beside EdgeInfer's (needs wrk)
    python -m tests.benchmarks.bench_restarts   what a sidecar, dockerd or Pi restart costs EdgeInfer (a running simulated Pi)
    scripts/fleet-bench N                       rollout time and bytes per Pi for N simulated Pis (Docker)

benchlib holds what the sidecar benchmarks share.
"""
