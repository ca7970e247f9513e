"""The models one sidecar serves (issue #17): one device process, one device, one worker on it; each bundle
is a model named by its manifest's `name`, and each model has its own serving release and the one kept
beside it for an instant switch back. EdgeInfer's POST /infer is bound to one of them: EDGEINFER_MODEL, or
the first listed whose bundle fits EdgeInfer.

A release switch names a bundle; the model it replaces is the one of the bundle's name. It loads beside the
serving releases in the device process, golden-checks there while the old keeps answering, then moves that
model to it in one assignment on the event loop. The release it replaced stays loaded, so switching back (a
rollback) is instant.

The set of models changes in the running sidecar (issue #39): a switch to a bundle of a model not served adds
it (loaded beside and golden-checked the same way, then routable in one assignment); a removal takes a model
out of routing first, lets its windows in flight be answered, then unloads its releases. /infer keeps its
model while that is served; when it has none (or its model goes), it is bound again as at start-up.

Each serving release has an input guard (input_watch.py, INPUT_GUARD), made when a model moves to it: the
routes hand it the windows they answered, /metrics and /healthz read its verdict. With CAPTURE_WINDOWS set, the
same windows go to each model's capture (capture.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.input_guard import Verdict
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.device.engine import edgeinfer_misfit
from hailo_pipeline.serve.device.process import open_engine
from hailo_pipeline.serve.host.capture import Captures, Layout
from hailo_pipeline.serve.host.device_host import DeviceHost, Loaded, LoadError
from hailo_pipeline.serve.host.input_watch import InputWatch
from hailo_pipeline.serve.host.loop_watch import LoopWatch
from hailo_pipeline.serve.messages import DeviceAccess, LoadRequest, OpenEngine
from hailo_pipeline.serve.metrics import SidecarMetrics
from hailo_pipeline.serve.settings import CURRENT_LINK_PREFIX, SidecarConfig

log = logging.getLogger("hailo_pipeline.serve.host.models")


@dataclass
class Model:
    """One served model: the release it answers with, the one kept loaded beside it, and why it is not ready."""

    name: str
    release_dir: Path  # the bundle it was configured with
    manifest: dict[str, Any] | None = None  # of the bundle it was configured with; None when that is unreadable
    active: Loaded | None = None
    previous: Loaded | None = None
    not_ready: str = "loading the release"


def _read_name(release_dir: Path) -> tuple[str, dict[str, Any] | None, str]:
    """A configured bundle's model name, manifest, and why it cannot be read ("" when it can)."""
    try:
        manifest = manifest_io.read(release_dir)
    except PipelineError as exc:
        return release_dir.name, None, str(exc)
    return str(manifest["name"]), manifest, ""


def _bundles(config: SidecarConfig) -> tuple[Path, ...]:
    """The bundles served from start-up: HAILO_MODELS_DIR's current-<model> links sorted by name, or HAILO_RELEASE_DIR's."""
    if config.models_dir is None:
        return config.release_dirs
    return tuple(sorted(config.models_dir.glob(f"{CURRENT_LINK_PREFIX}*")))


class Sidecar:
    """What the app holds between requests: the device process, the models, health and metrics."""

    def __init__(self, config: SidecarConfig, opener: OpenEngine = open_engine) -> None:
        self.config = config
        self.metrics = SidecarMetrics()
        self.loop_watch = LoopWatch()
        self.host = DeviceHost(
            config.queue_limit,
            config.answer_deadline_ms / 1000,
            config.infer_timeout_ms / 1000,
            opener,
            self._observe,
            self.loop_watch.turn_s,
            self._parity,
        )
        configured = [(release_dir, *_read_name(release_dir)) for release_dir in _bundles(config)]
        manifest_io.one_release_per_model((name, str(release_dir)) for release_dir, name, _, _ in configured)
        self.models: dict[str, Model] = {
            name: Model(name, release_dir, manifest, not_ready=problem or "loading the release")
            for release_dir, name, manifest, problem in configured
        }
        self.edgeinfer, self.edgeinfer_problem = self._edgeinfer_binding(self.models)
        self.switching = asyncio.Lock()  # one switch, add or removal at a time: the models share the device's room
        self.inputs: dict[int, InputWatch] = {}  # the serving releases' input guards, by engine key
        self.metrics.track_input(self._input_verdicts)
        self.captures: Captures | None = None
        if config.capture_windows and config.capture_dir is not None:
            errors = self.metrics.capture_errors
            self.captures = Captures(
                config.capture_dir, config.capture_windows, config.capture_rate, config.capture_flush_s, lambda m: errors.labels(m).inc()
            )
            self.metrics.track_capture(self.captures.state)

    def _observe(self, key: int, seconds: float) -> None:
        loaded = self.host.loaded.get(key)
        if loaded is not None:
            self.metrics.inference.labels(loaded.name).observe(seconds)

    def _parity(self, key: int, cosine: float, threshold: float) -> None:
        loaded = self.host.loaded.get(key)
        if loaded is not None:
            self.metrics.parity.labels(loaded.name).observe(cosine)
            if cosine < threshold:
                self.metrics.parity_below_gate.labels(loaded.name).inc()

    def _edgeinfer_binding(self, models: dict[str, Model]) -> tuple[Model | None, str]:
        """The model of `models` POST /infer answers with, or None and why there is none."""
        named = self.config.edgeinfer_model
        if named:
            if named not in models:
                served = ", ".join(m.name if m.manifest is not None else f"{m.release_dir}: {m.not_ready}" for m in models.values())
                return None, f"EDGEINFER_MODEL={named} is none of the served models ({served or 'none'})"
            manifest = models[named].manifest
            misfit = edgeinfer_misfit(manifest) if manifest is not None else None
            return (None, f"EDGEINFER_MODEL={named} cannot serve EdgeInfer: {misfit}") if misfit else (models[named], "")
        misfits = []
        for model in models.values():
            if model.manifest is None:
                misfits.append(f"{model.name}: {model.not_ready}")
                continue
            misfit = edgeinfer_misfit(model.manifest)
            if misfit is None:
                return model, ""
            misfits.append(f"{model.name}: {misfit}")
        return None, f"no served model fits EdgeInfer ({'; '.join(misfits) or 'none is served'})"

    def _client_units(self, name: str) -> dict[str, str]:
        """The host's client_units override for model `name` ({channel: unit}, the engine checks the units): read
        at every load, so that the file changes without a restart. No file: none."""
        path = self.config.client_units_file
        if path is None or not path.exists():
            return {}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PipelineError(f"CLIENT_UNITS_FILE {path}: not readable JSON ({exc}); fix or remove it") from None
        if not isinstance(doc, dict):
            raise PipelineError(f"CLIENT_UNITS_FILE {path}: must be {{model: {{channel: unit}}}}, got a JSON {type(doc).__name__}")
        entry = doc.get(name, {})
        if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
            raise PipelineError(f"CLIENT_UNITS_FILE {path}: model {name}'s entry must be {{channel: unit}}, got {entry!r}")
        return {str(channel): unit for channel, unit in entry.items()}

    def _request(self, release_dir: Path, name: str) -> LoadRequest:
        c = self.config
        access = DeviceAccess(c.device, c.multi_process_service)
        signers = Path(c.allowed_signers) if c.allowed_signers else None
        return LoadRequest(
            release_dir.resolve(),
            c.backend,
            access,
            c.ort_threads,
            c.infer_timeout_ms,
            signers,
            c.parity_sample_every,
            self._client_units(name),
        )

    async def start(self) -> None:
        self._watching = asyncio.create_task(self.loop_watch.run())
        self._capturing = asyncio.create_task(self.captures.run()) if self.captures is not None else None
        await self.host.start()
        self.metrics.track_queue(self.host.depth)
        for model in self.models.values():
            if model.manifest is None:
                log.error("%s not ready: %s", model.name, model.not_ready)
                continue
            try:
                loaded = await self.host.load(self._request(model.release_dir, model.name))
            except PipelineError as exc:
                model.not_ready = str(exc)
                log.error("%s not ready: %s", model.name, exc)
                continue
            self._activate(model, loaded)
        gc.freeze()  # what start-up made lives as long as the process: keep it out of every collection

    async def stop(self) -> None:
        self._watching.cancel()
        if self._capturing is not None and self.captures is not None:
            self._capturing.cancel()
            await self.captures.write()  # what was taken since the last write
        await self.host.stop()

    def client_window(self, key: int, window: NDArray[Any]) -> None:
        """A window engine `key` answered, as its client sent it: to the release's input guard and the model's capture.
        Called after the turn of the loop that sent the answer (serve/http/exchange.py)."""
        watch = self.inputs.get(key)
        if watch is not None:
            watch.observe(window)
        if self.captures is not None:
            self.captures.offer(key, window)

    def _activate(self, model: Model, loaded: Loaded) -> None:
        """`model` moves to `loaded`; the release it replaces becomes the one kept beside it."""
        replaced, kept = model.active, model.previous
        if kept is not None and kept is not loaded and kept is not replaced:
            self.host.unload(kept.key)
        model.active, model.previous = loaded, replaced if replaced is not loaded else kept
        model.not_ready = ""
        self._watch_input(model, loaded)
        info = loaded.info
        versions = info["versions"]
        self.metrics.serving(model.name, info["release"], info["backend"], str(versions.get("hef_sdk")), str(versions.get("hailort")))
        golden = info["golden"]["said"]
        log.info("%s: serving %s on %s (%s); %s", model.name, loaded.release, info["backend"], info["backend_reason"], golden)

    def _watch_input(self, model: Model, loaded: Loaded) -> None:
        """A fresh input guard for the release `model` now serves, and the model's capture taking its windows; the
        releases no longer serving lose theirs. A guard or capture that cannot be set up (the manifest gone
        unreadable) is logged and counted: the release serves without it."""
        serving = {m.active.key for m in self.models.values() if m is not model and m.active is not None}
        self.inputs = {key: watch for key, watch in self.inputs.items() if key in serving}
        if self.captures is not None:
            self.captures.forget(set(self.host.loaded) - serving)
        if not self.config.input_guard and self.captures is None:
            return
        sent = loaded.info["client_units"]
        try:
            manifest: dict[str, Any] | None = manifest_io.read(loaded.request.release_dir)
        except PipelineError:
            manifest = None  # the guard and the capture below each count and log that they have none
        if self.config.input_guard:
            errors = self.metrics.input_guard_errors.labels(model.name)
            try:
                if manifest is None:
                    raise PipelineError(f"{loaded.release}'s manifest is unreadable")
                self.inputs[loaded.key] = InputWatch(model.name, manifest, sent, self.config.input_guard_period_s, errors.inc)
            except Exception:
                errors.inc()
                log.exception("%s: no input guard for %s (answers are unaffected)", model.name, loaded.release)
        if self.captures is not None:
            try:
                if manifest is None:
                    raise PipelineError(f"{loaded.release}'s manifest is unreadable")
                layout = Layout.of_release(manifest, loaded.info["input"]["shape"])
                self.captures.serve(model.name, loaded.key, loaded.release, layout, tuple(sent[c] for c in layout.channels))
            except Exception:
                self.metrics.capture_errors.labels(model.name).inc()
                log.exception("%s: no capture for %s (answers are unaffected)", model.name, loaded.release)

    def _input_verdicts(self) -> list[tuple[str, Verdict]]:
        """The serving models' input verdicts (a guard that fails on its verdict is left out, and counted)."""
        found = [(m.name, self.inputs.get(m.active.key)) for m in self.models.values() if m.active is not None]
        return [(name, verdict) for name, watch in found if watch is not None for verdict in [watch.verdict()] if verdict is not None]

    def input_warnings(self, model: Model) -> list[str] | None:
        """/healthz's input warnings for `model`'s serving release; None when it has no guard (INPUT_GUARD=false)."""
        watch = self.inputs.get(model.active.key) if model.active is not None else None
        return watch.warnings() if watch is not None else None

    async def _load_with_room(self, model: Model, request: LoadRequest) -> Loaded:
        """Loads a release beside the serving ones; when the device cannot hold another network group, the kept
        releases are unloaded one by one (this model's, then the others') and the load tried again. Raises the
        last LoadError when even that leaves no room."""
        others = [m for m in self.models.values() if m is not model]
        kept = [holder for holder in [model, *others] if holder.previous is not None]
        while True:
            try:
                return await self.host.load(request)
            except LoadError as exc:
                if not exc.device_full or not kept:
                    raise
            holder = kept.pop(0)
            assert holder.previous is not None
            self.host.unload(holder.previous.key)
            holder.previous = None

    async def _load_beside(self, model: Model, request: LoadRequest) -> tuple[Loaded, float | None]:
        """Loads a release beside the serving ones, with room made as _load_with_room does; when there is still
        none, this model's serving release is unloaded first (a quick switch: the gap, in seconds, is returned and
        503 not_ready answers meanwhile)."""
        try:
            return await self._load_with_room(model, request), None
        except LoadError as exc:
            if not exc.device_full or model.active is None:
                raise
        serving = model.active
        gap_started = time.perf_counter()
        model.active, model.not_ready = None, f"switching to {request.release_dir.name}: the device cannot hold both releases"
        self.host.unload(serving.key)
        try:
            loaded = await self.host.load(request)
        except PipelineError as failed:
            try:
                self._activate(model, await self.host.load(serving.request))
            except PipelineError as again:
                model.not_ready = f"{request.release_dir.name} did not load ({failed}), nor did {serving.release} again ({again})"
                raise PipelineError(model.not_ready) from failed
            raise
        return loaded, time.perf_counter() - gap_started

    def _model_of(self, release_dir: Path) -> Model:
        """The model a bundle is a release of (its manifest's name): the served one, or a new one not yet served.
        Refuses a bundle that cannot serve EdgeInfer's /infer where it would have to."""
        manifest = manifest_io.read(release_dir)
        name = str(manifest["name"])
        model = self.models.get(name)
        if model is None:
            if name == self.config.edgeinfer_model and (misfit := edgeinfer_misfit(manifest)):
                raise PipelineError(f"{manifest['release']} cannot serve EdgeInfer's /infer, as EDGEINFER_MODEL={name} asks: {misfit}")
            return Model(name, release_dir, manifest)
        if model is self.edgeinfer and (misfit := edgeinfer_misfit(manifest)):
            raise PipelineError(f"{manifest['release']} cannot serve EdgeInfer's /infer as {model.name} does: {misfit}")
        return model

    def _with(self, model: Model) -> dict[str, Model]:
        """The models with `model` added: last, or in its place by name when they come from HAILO_MODELS_DIR (as
        a restart orders them)."""
        models = {**self.models, model.name: model}
        return dict(sorted(models.items())) if self.config.models_dir is not None else models

    async def switch(self, release_dir: Path, live_gate: bool = False) -> dict[str, Any]:
        """Serves `release_dir` as its model, loaded beside the serving releases unless it is the one kept loaded;
        a model not served is added. The serving release is loaded again when the host's client_units for it
        changed (CLIENT_UNITS_FILE). A release that fails to load (checksums, contract, backend, golden vectors)
        leaves every model untouched. live_gate: a release loaded now must also reproduce the model's captured
        windows against its FP32 ONNX (the canary's live-window gate); the answer's live_gate says what it judged."""
        async with self.switching:
            started = time.perf_counter()
            model = self._model_of(release_dir.resolve())
            request = self._request(release_dir, model.name)
            said = None
            if live_gate:
                request, said = await self._with_live_windows(request, model.name)
            if model.name not in self.models:
                added = await self._add(model, request, started)
                judged = said or (model.active.info.get("live_gate") if model.active is not None else None)
                return added | ({"live_gate": judged} if live_gate else {})
            was = model.active.release if model.active is not None else None
            if model.active is not None and model.active.request == request:
                previous = model.previous and model.previous.release
                return {"model": model.name, "release": was, "previous": previous, "switched": False, "added": False, "loaded": False}
            gap: float | None = None
            if model.previous is not None and model.previous.request == request:
                target, loaded_now = model.previous, False
            else:
                (target, gap), loaded_now = await self._load_beside(model, request), True
            self._activate(model, target)
            if live_gate and said is None:
                kept = {"windows": 0, "said": "the release kept loaded beside: judged when it loaded"}
                said = target.info.get("live_gate") if loaded_now else kept
            return {
                "model": model.name,
                "release": target.release,
                "previous": was,
                "switched": True,
                "added": False,
                "loaded": loaded_now,
                "seconds": round(time.perf_counter() - started, 3),
                "gap_seconds": None if gap is None else round(gap, 3),
                "live_gate": said,
            }

    async def _with_live_windows(self, request: LoadRequest, model: str) -> tuple[LoadRequest, dict[str, Any] | None]:
        """The request with the model's capture file for the live-window gate, written first so it holds what was
        taken until now; without a capture on this host, the request as it is and what the gate says of it."""
        if self.captures is None:
            return request, {"windows": 0, "said": "golden windows only: the capture is off on this host (hailo_sidecar_capture_windows)"}
        await self.captures.write()
        return replace(request, live_windows=self.captures.path(model)), None

    async def _add(self, model: Model, request: LoadRequest, started: float) -> dict[str, Any]:
        """Loads and golden-checks a model not served beside the others (room made as _load_with_room does), then
        routes it in one step; /infer is bound to it when it had no model and this one is EdgeInfer's."""
        loaded = await self._load_with_room(model, request)
        self._activate(model, loaded)
        self.models = self._with(model)
        if self.edgeinfer is None:
            self.edgeinfer, self.edgeinfer_problem = self._edgeinfer_binding(self.models)
        return {
            "model": model.name,
            "release": loaded.release,
            "previous": None,
            "switched": True,
            "added": True,
            "loaded": True,
            "seconds": round(time.perf_counter() - started, 3),
            "gap_seconds": None,
        }

    async def remove(self, name: str) -> dict[str, Any]:
        """Takes the model `name` out of routing, lets its windows in flight be answered, then unloads its serving
        and kept releases; a model not served is not removed (nothing to do). Refuses EdgeInfer's model when no
        other served model can take /infer."""
        async with self.switching:
            started = time.perf_counter()
            model = self.models.get(name)
            if model is None:
                return {"model": name, "removed": False, "release": None, "seconds": 0.0}
            rest = {other.name: other for other in self.models.values() if other is not model}
            edgeinfer, problem = (self.edgeinfer, "") if self.edgeinfer not in (None, model) else self._edgeinfer_binding(rest)
            edgeinfers = model is self.edgeinfer
            if edgeinfers and edgeinfer is None:
                remedy = "set EDGEINFER_MODEL to another served model" if self.config.edgeinfer_model else "add a model that fits EdgeInfer"
                raise PipelineError(
                    f"{name} answers EdgeInfer's /infer and no other model can take it (without it, {problem}): {remedy} first"
                )
            self.models, self.edgeinfer, self.edgeinfer_problem = rest, edgeinfer, problem
            releases = [loaded for loaded in (model.active, model.previous) if loaded is not None]
            await self.host.drain({loaded.key for loaded in releases})
            for loaded in releases:
                self.inputs.pop(loaded.key, None)
                self.host.unload(loaded.key)
            if self.captures is not None:
                self.captures.forget({loaded.key for loaded in releases})
            self.metrics.not_serving(name)
            release = model.active and model.active.release
            log.info(
                "%s: removed (it served %s)%s",
                name,
                release,
                f"; /infer now answers with {edgeinfer.name}" if edgeinfers and edgeinfer else "",
            )
            return {"model": name, "removed": True, "release": release, "seconds": round(time.perf_counter() - started, 3)}

    def model_state(self, model: Model) -> tuple[bool, str]:
        """Whether `model` answers now, and why not."""
        if model.active is None:
            return False, model.not_ready or "not started"
        problem = self.host.problem(model.active.key)
        return problem is None, problem or "ready"

    def models_ready(self) -> tuple[bool, str]:
        """Ready when every model is; the reason names each one that is not."""
        problems = [f"{m.name}: {reason}" for m in self.models.values() for ok, reason in [self.model_state(m)] if not ok]
        return not problems, "; ".join(problems) or "ready"

    def health(self) -> tuple[bool, str]:
        """/healthz: every model ready, and EdgeInfer's /infer has one."""
        if not self.models:
            where = f"HAILO_MODELS_DIR={self.config.models_dir} had no current-<model> link, or " if self.config.models_dir else ""
            return False, f"no model to serve ({where}every model was removed): add one with `hailo-pipeline switch RELEASE`"
        ok, reason = self.models_ready()
        if self.edgeinfer is None:
            return False, "; ".join([*([reason] if not ok else []), f"/infer: {self.edgeinfer_problem}"])
        return ok, reason

    def state(self) -> dict[str, Any]:
        edgeinfer = self.edgeinfer
        return {
            "active": edgeinfer and edgeinfer.active and edgeinfer.active.release,
            "previous": edgeinfer and edgeinfer.previous and edgeinfer.previous.release,
            "edgeinfer_model": edgeinfer and edgeinfer.name,
            "models": {
                m.name: {"active": m.active and m.active.release, "previous": m.previous and m.previous.release}
                for m in self.models.values()
            },
            # the units in force per serving model: its bundle's input.client_units, or the host's (CLIENT_UNITS_FILE)
            "client_units": {m.name: m.active.info["client_units"] for m in self.models.values() if m.active is not None},
            "loaded": sorted(str(loaded.request.release_dir) for loaded in self.host.loaded.values()),
            "capture": self.captures.state() if self.captures is not None else None,
        }
