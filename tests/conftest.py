from __future__ import annotations

import fcntl
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from hailo_pipeline.model.examples import example_checkpoint, original_tcn_onnx

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SPEC = REPO_ROOT / "files/examples/tcn_encoder.yaml"
FSQ_EXAMPLE_SPEC = REPO_ROOT / "files/examples/conv2d_fsq.yaml"
SAMPLES = REPO_ROOT / "tests/fixtures/edgeinfer-samples"
# The console script of the interpreter running the tests, whether or not its venv is activated.
CLI = str(Path(sys.executable).with_name("hailo-pipeline"))


def role_filter_plugin(role: str, name: str) -> ModuleType:
    """A role's filter plugin (roles/<role>/filter_plugins/<name>.py), imported as Ansible would find it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "roles" / role / "filter_plugins" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example source models, written once per test session."""
    folder = tmp_path_factory.mktemp("sources")
    paths = {
        "tcn_encoder": folder / "tcn_encoder.pt",
        "conv2d_fsq": folder / "conv2d_fsq.pt",
        "tcn_encoder_onnx": folder / "tcn_original.onnx",
        "tcn_encoder_outliers_onnx": folder / "tcn_outliers.onnx",
    }
    paths["tcn_encoder"].write_bytes(example_checkpoint("tcn_encoder"))
    paths["conv2d_fsq"].write_bytes(example_checkpoint("conv2d_fsq"))
    paths["tcn_encoder_onnx"].write_bytes(original_tcn_onnx())
    paths["tcn_encoder_outliers_onnx"].write_bytes(original_tcn_onnx(outliers=True))
    return paths


def example_spec_dict() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE_SPEC.read_text())


def locked_version(name: str) -> str:
    """The version scripts/venv.lock.txt pins `name` to."""
    pins = dict(line.split("==", 1) for line in (REPO_ROOT / "scripts/venv.lock.txt").read_text().splitlines() if "==" in line)
    return pins[name]


SMALL_CALIBRATION = {"windows": 256, "min_windows": 256}


def build_example(folder: Path, checkpoint: Path, **overrides: Any) -> Path:
    """The bundled example spec on `checkpoint` (256 calibration windows unless overridden), built in folder/out."""
    from hailo_pipeline.builder.pipeline import build

    spec = example_spec_dict() | {"calibration": SMALL_CALIBRATION} | overrides
    spec["source"] = {"arch": "tcn_encoder", "checkpoint": str(checkpoint)}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    return build(folder / "spec.yaml", folder / "out").release_dir


def build_fsq_example(folder: Path, checkpoint: Path, compiled: bool = False, version: str = "1.0.0") -> Path:
    """The bundled Conv2d-FSQ example spec (model conv2d-fsq) at `version` on `checkpoint`, in folder/out; with a HEF
    from the DFC double when `compiled`."""
    from hailo_pipeline.builder.pipeline import build

    spec = yaml.safe_load(FSQ_EXAMPLE_SPEC.read_text()) | {"version": version, "calibration": SMALL_CALIBRATION}
    spec["source"] = {"arch": "conv2d_fsq", "checkpoint": str(checkpoint)}
    (folder / "fsq.yaml").write_text(yaml.safe_dump(spec))
    if not compiled:
        return build(folder / "fsq.yaml", folder / "out").release_dir
    with pytest.MonkeyPatch.context() as mp:
        for _ in _install_double(mp, "hailo_sdk_client"):
            return build(folder / "fsq.yaml", folder / "out").release_dir
    raise AssertionError("unreachable")


def build_compiled_example(folder: Path, checkpoint: Path, version: str = "1.0.0", **dfc: object) -> Path:
    """build_example at `version` with a Hailo-8 HEF, compiled by the DFC double (dfc: the spec's dfc section)."""
    with pytest.MonkeyPatch.context() as mp:
        for _ in _install_double(mp, "hailo_sdk_client"):
            return build_example(folder, checkpoint, version=version, dfc=dfc)
    raise AssertionError("unreachable")


@pytest.fixture
def write_spec(tmp_path: Path, sources: dict[str, Path]) -> Callable[..., Path]:
    """Writes a spec like the bundled example, pointing at the session's example checkpoint, with overrides."""

    def write(name: str = "spec.yaml", **overrides: Any) -> Path:
        spec = example_spec_dict()
        spec["source"] = {"arch": "tcn_encoder", "checkpoint": str(sources["tcn_encoder"])}
        spec.update(overrides)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec))
        return path

    return write


def _forget(module: str) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _install_double(monkeypatch: pytest.MonkeyPatch, module: str) -> Iterator[ModuleType]:
    """A test double from tests/support/doubles installed for one test, as if its wheel were in the venv."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "tests/support/doubles"))
    _forget(module)
    try:
        double = importlib.import_module(module)
        double.CALLS.clear()
        yield double
    finally:  # also when a caller returns from inside its `for` loop, which closes this generator
        monkeypatch.undo()
        _forget(module)


@pytest.fixture
def dfc_double(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The DFC (hailo_sdk_client) double."""
    yield from _install_double(monkeypatch, "hailo_sdk_client")


@pytest.fixture
def hailort_double(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The HailoRT (hailo_platform) double, with a VDevice of its own (a test's unclosed backend cannot leave one)."""
    from hailo_pipeline.hailo import hailort_backend

    monkeypatch.setattr(hailort_backend, "VDEVICE", hailort_backend.SharedVDevice())
    yield from _install_double(monkeypatch, "hailo_platform")


@pytest.fixture
def device(tmp_path: Path) -> Path:
    node = tmp_path / "hailo0"  # stands in for /dev/hailo0
    node.touch()
    return node


@pytest.fixture
def calls(hailort_double: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The HailoRT double, its calls logged to a file (the device process is forked): that file."""
    monkeypatch.setenv("HAILORT_DOUBLE_LOG", str(tmp_path / "calls"))
    return tmp_path / "calls"


class ExampleBuilds:
    """The example bundles of a test run, each built on first use and then shared by every test that reads it (a
    build is seconds of export, calibration and compiling), across pytest-xdist's workers too: the first to need a
    bundle builds it under a lock, the others wait for it and read the same folder. They are read-only: a test that
    signs, tampers or damages a bundle works on a copy (shutil.copytree), and the session ends by checking each
    against its SHA256SUMS."""

    def __init__(self, folder: Path, sources: dict[str, Path]) -> None:
        self.folder, self.sources = folder, sources
        self.built: dict[tuple[str, str, bool], Path] = {}

    def tcn(self, version: str = "1.0.0", compiled: bool = False) -> Path:
        """build_example at `version`; build_compiled_example's Hailo-8 HEF too when `compiled`."""
        checkpoint = self.sources["tcn_encoder"]
        return self._shared(
            ("tcn", version, compiled),
            lambda folder: (
                build_compiled_example(folder, checkpoint, version) if compiled else build_example(folder, checkpoint, version=version)
            ),
        )

    def fsq(self, version: str = "1.0.0", compiled: bool = False) -> Path:
        """build_fsq_example at `version`, compiled or not."""
        return self._shared(
            ("fsq", version, compiled),
            lambda folder: build_fsq_example(folder, self.sources["conv2d_fsq"], compiled=compiled, version=version),
        )

    def _shared(self, key: tuple[str, str, bool], build: Callable[[Path], Path]) -> Path:
        if key not in self.built:
            arch, version, compiled = key
            folder = self.folder / f"{arch}-{version}{'-hef' if compiled else ''}"
            built = self.folder / f"{folder.name}.built"  # the release's path in folder, once it is whole
            with (self.folder / f"{folder.name}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not built.exists():
                    folder.mkdir(exist_ok=True)  # a worker whose build failed may have left it
                    built.write_text(str(build(folder).relative_to(folder)))
            self.built[key] = folder / built.read_text()
        return self.built[key]


@pytest.fixture(scope="session")
def example_builds(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> Iterator[ExampleBuilds]:
    """The session's shared example bundles (read-only; see ExampleBuilds)."""
    from hailo_pipeline.bundle.trust import check_bundle

    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp sits in the folder the run's workers share
        run_folder = run_folder.parent
    folder = run_folder / "examples"
    folder.mkdir(exist_ok=True)
    builds = ExampleBuilds(folder, sources)
    yield builds
    for release_dir in builds.built.values():  # a test that changed a shared bundle, not a copy, fails here
        check_bundle(release_dir, None)
        assert not (release_dir / "SHA256SUMS.sig").exists(), f"a test signed the shared {release_dir.name}"


@pytest.fixture(scope="session")
def bundle(example_builds: ExampleBuilds) -> Path:
    """The small example bundle (read-only: copy it to change it)."""
    return example_builds.tcn()


@pytest.fixture(scope="session")
def fsq_bundle(example_builds: ExampleBuilds) -> Path:
    """The Conv2d-FSQ example bundle, ONNX only (read-only: copy it to change it)."""
    return example_builds.fsq()


@pytest.fixture(scope="module")
def server(bundle: Path) -> Iterator[str]:
    """The sidecar serving `bundle` on loopback (ONNX Runtime); its base URL."""
    from tests.support.sidecar_server import running

    with running(bundle) as running_sidecar:
        yield running_sidecar.url


# The DFC double as the compile stage runs it: in the DFC runner's own process (hailo/dfc_runner.py), so a test
# sets its knobs and reads its calls through the environment that process inherits.
class DfcDoubleRun:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
        self.monkeypatch, self.log = monkeypatch, log
        monkeypatch.setenv("HAILO_SDK_CLIENT_DOUBLE_CALLS", str(log))

    def set(self, **knobs: object) -> None:
        """Knobs of tests/support/doubles/hailo_sdk_client (FAIL_AT, QUANT_BITS, INPUT_RANGE, _ARCH_IN_HEF, __version__)."""
        import json

        self.monkeypatch.setenv("HAILO_SDK_CLIENT_DOUBLE", json.dumps(knobs))

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        import json

        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [(name, args) for name, args in map(json.loads, lines)]


@pytest.fixture
def dfc_run(dfc_double: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DfcDoubleRun:
    """The DFC double, with its knobs and call log reaching the runner's process."""
    return DfcDoubleRun(monkeypatch, tmp_path / "dfc-calls.jsonl")
