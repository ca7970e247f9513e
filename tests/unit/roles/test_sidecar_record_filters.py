"""Role hailo_sidecar's record of what a host serves: per model current, previous and history, what a plain
rollback takes back, which releases stay on the host."""

import re
from types import ModuleType
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from tests.conftest import role_filter_plugin


@pytest.fixture(scope="module")
def f() -> ModuleType:
    return role_filter_plugin("hailo_sidecar", "sidecar_record")


def test_a_first_deploy_records_each_model_and_a_second_run_changes_nothing(f: ModuleType) -> None:
    empty = f.hailo_sidecar_record(None)
    assert empty == {"models": {}, "last_changed": []}
    first = f.hailo_sidecar_after(empty, {"tcn": "tcn-1", "fsq": "fsq-1"})
    assert first == {
        "models": {"fsq": {"current": "fsq-1", "previous": None, "history": ["fsq-1"]},
                   "tcn": {"current": "tcn-1", "previous": None, "history": ["tcn-1"]}},
        "last_changed": ["fsq", "tcn"],
    }  # fmt: skip
    assert f.hailo_sidecar_after(f.hailo_sidecar_record(first), {"tcn": "tcn-1", "fsq": "fsq-1"}) == first


def test_moving_one_model_leaves_the_others_and_is_what_a_plain_rollback_takes_back(f: ModuleType) -> None:
    first = f.hailo_sidecar_after(f.hailo_sidecar_record(None), {"tcn": "tcn-1", "fsq": "fsq-1"})
    second = f.hailo_sidecar_after(first, {"tcn": "tcn-2", "fsq": "fsq-1"})
    assert second["models"]["tcn"] == {"current": "tcn-2", "previous": "tcn-1", "history": ["tcn-2", "tcn-1"]}
    assert second["models"]["fsq"] == first["models"]["fsq"]
    assert second["last_changed"] == ["tcn"]
    rerun = f.hailo_sidecar_after(second, {"tcn": "tcn-2", "fsq": "fsq-1"})
    assert rerun["last_changed"] == ["tcn"], "a re-run keeps what the last change was"
    back = f.hailo_sidecar_rollback(second)
    assert back == {"tcn": "tcn-1", "fsq": "fsq-1"}
    rolled = f.hailo_sidecar_after(second, back)
    assert rolled["models"]["tcn"] == {"current": "tcn-1", "previous": "tcn-2", "history": ["tcn-1", "tcn-2"]}
    assert f.hailo_sidecar_rollback(rolled) == {"tcn": "tcn-2", "fsq": "fsq-1"}, "a second rollback undoes the first"


def test_a_rollback_can_name_the_model_or_a_release_it_kept(f: ModuleType) -> None:
    record = f.hailo_sidecar_after(f.hailo_sidecar_record(None), {"tcn": "tcn-1", "fsq": "fsq-1"})
    record = f.hailo_sidecar_after(record, {"tcn": "tcn-2", "fsq": "fsq-2"})
    record = f.hailo_sidecar_after(record, {"tcn": "tcn-3", "fsq": "fsq-2"})
    assert f.hailo_sidecar_rollback(record, "previous", "fsq") == {"tcn": "tcn-3", "fsq": "fsq-1"}
    assert f.hailo_sidecar_rollback(record, "tcn-1") == {"tcn": "tcn-1", "fsq": "fsq-2"}, "the release's own model moves"
    assert f.hailo_sidecar_rollback(record, "fsq-1", "fsq") == {"tcn": "tcn-3", "fsq": "fsq-1"}


@pytest.mark.parametrize(
    ("record", "to", "model", "message"),
    [
        ({"models": {}, "last_changed": []}, "previous", "", "no release on record"),
        ({"models": {"tcn": {"current": "tcn-1", "previous": None, "history": ["tcn-1"]}}, "last_changed": ["tcn"]},
         "previous", "", "tcn has no previous release on record"),
        ({"models": {"tcn": {"current": "tcn-1", "previous": None, "history": ["tcn-1"]}}, "last_changed": ["tcn"]},
         "previous", "fsq", "this host serves no model 'fsq'; it serves tcn"),
        ({"models": {"tcn": {"current": "tcn-2", "previous": "tcn-1", "history": ["tcn-2", "tcn-1"]}}, "last_changed": ["tcn"]},
         "tcn-0", "", "tcn-0 is not in any model's history on this host"),
        ({"models": {"tcn": {"current": "tcn-2", "previous": "tcn-1", "history": ["tcn-2", "tcn-1"]}}, "last_changed": []},
         "previous", "", "no change on record to take back; name the model: -e rollback_model=<tcn>"),
    ],
)  # fmt: skip
def test_a_rollback_it_cannot_do_says_why(f: ModuleType, record: dict[str, Any], to: str, model: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        f.hailo_sidecar_rollback(record, to, model)


def test_kept_releases_are_each_models_last_few_and_what_a_restore_needs(f: ModuleType) -> None:
    record = f.hailo_sidecar_record(None)
    for n in range(1, 6):
        record = f.hailo_sidecar_after(record, {"tcn": f"tcn-{n}", "fsq": "fsq-1"})
    assert f.hailo_sidecar_kept(record, {"tcn": "tcn-6", "fsq": "fsq-1"}, 2) == ["fsq-1", "tcn-5", "tcn-6"]
    assert f.hailo_sidecar_kept(record, {"tcn": "tcn-6"}, 2) == ["fsq-1", "tcn-5", "tcn-6"], "a dropped model's release stays for a restore"
    assert f.hailo_sidecar_after(record, {"tcn": "tcn-6"})["models"].keys() == {"tcn"}


def test_a_fact_that_is_no_record_of_the_role_is_refused(f: ModuleType) -> None:
    with pytest.raises(AnsibleFilterError, match="not a record of role hailo_sidecar"):
        f.hailo_sidecar_record({"current": "tcn-2"})
