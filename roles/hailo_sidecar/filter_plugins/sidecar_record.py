"""Filters for role hailo_sidecar's record of what a host serves: the local fact (hailo_model.fact) rollback trusts.

The record is {"models": {model: {"current", "previous", "history"}}, "last_changed": [model, ...]}: a model is a
bundle's manifest name, history is newest first, last_changed names the models the last change moved (what a
plain rollback takes back). A serving is {model: release}.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

HISTORY = 20


def hailo_sidecar_record(fact: dict[str, Any] | None) -> dict[str, Any]:
    """The fact as read from the host (none yet: an empty record)."""
    if not fact:
        return {"models": {}, "last_changed": []}
    if "models" not in fact:
        raise AnsibleFilterError(f"the fact on this host is not a record of role hailo_sidecar (no models): {fact}")
    return {"models": dict(fact["models"]), "last_changed": list(fact.get("last_changed", []))}


def hailo_sidecar_serving(record: dict[str, Any]) -> dict[str, str]:
    """What a record says the host serves."""
    return {model: entry["current"] for model, entry in record["models"].items()}


def hailo_sidecar_after(before: dict[str, Any], serving: dict[str, str]) -> dict[str, Any]:
    """The record once the host serves `serving` (models it no longer serves leave the record)."""
    models, moved = {}, []
    for model, release in sorted(serving.items()):
        was = before["models"].get(model) or {"current": None, "previous": None, "history": []}
        changed = was["current"] != release
        if changed:
            moved.append(model)
        models[model] = {
            "current": release,
            "previous": was["current"] if changed else was["previous"],
            "history": ([release] + [r for r in was["history"] if r != release])[:HISTORY],
        }
    # a run that moves nothing leaves the record as it was (a second run changes nothing)
    return {"models": models, "last_changed": moved or [m for m in before["last_changed"] if m in models]}


def hailo_sidecar_kept(before: dict[str, Any], serving: dict[str, str], keep: int) -> list[str]:
    """Releases that stay on the host once it serves `serving`: each model's current and previous, the last
    `keep` of its history, and whatever it served before (what a restore would go back to)."""
    kept = set(hailo_sidecar_serving(before).values())
    for entry in hailo_sidecar_after(before, serving)["models"].values():
        kept.update(r for r in [entry["current"], entry["previous"], *entry["history"][:keep]] if r)
    return sorted(kept)


def hailo_sidecar_rollback(before: dict[str, Any], to: str = "previous", model: str = "") -> dict[str, str]:
    """What the host serves after a rollback: every model as now, except `model` (default: the models the last
    change moved, or for a named release the model whose history holds it), which goes back to its previous
    release or to the release `to` names."""
    serving = hailo_sidecar_serving(before)
    if not serving:
        raise AnsibleFilterError("this host has no release on record (nothing was deployed); nothing to roll back to")
    if model and model not in serving:
        raise AnsibleFilterError(f"this host serves no model {model!r}; it serves {', '.join(sorted(serving))}")
    if to == "previous":
        names = [model] if model else before["last_changed"]
        if not names:
            raise AnsibleFilterError(f"no change on record to take back; name the model: -e rollback_model=<{'|'.join(sorted(serving))}>")
        for name in names:
            previous = before["models"][name]["previous"]
            if not previous:
                raise AnsibleFilterError(f"{name} has no previous release on record ({before['models'][name]}); nothing to roll back to")
            serving[name] = previous
        return serving
    owners = [name for name, entry in before["models"].items() if to in entry["history"] and (not model or name == model)]
    if not owners:
        where = f"{model}'s history" if model else "any model's history"
        raise AnsibleFilterError(f"{to} is not in {where} on this host: {before['models']}; roll back to one it kept")
    serving[owners[0]] = to
    return serving


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hailo_sidecar_record": hailo_sidecar_record,
            "hailo_sidecar_serving": hailo_sidecar_serving,
            "hailo_sidecar_after": hailo_sidecar_after,
            "hailo_sidecar_kept": hailo_sidecar_kept,
            "hailo_sidecar_rollback": hailo_sidecar_rollback,
        }
