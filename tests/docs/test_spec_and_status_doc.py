"""The spec item and the status as the documents describe them, against the model that
validates the item and the items the Record step and the ExecutionFailed function write."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from doc_support import TARGET, flat, read, section, table_rows

from fleetwise_reconciler.logic.compare import MAX_SPEC_BYTES
from fleetwise_reconciler.logic.plan import AWAITING_ADOPTION, Phase
from fleetwise_reconciler.logic.status import CONDITION_TYPES
from fleetwise_reconciler.logic.validate import ValidationContext, validate
from fleetwise_reconciler.models.spec import (
    MODES,
    POLICIES,
    RECONCILE_TOKEN_LENGTH,
    SPEC_FIELDS,
    Spec,
)
from fleetwise_reconciler.settings import Settings
from fleetwise_rehearsal.rehearsal import Rehearsal

README = read("README.md")
WORKFLOW = read("docs/workflow.md")
CONTEXT = ValidationContext(account_id=TARGET.split(":")[0])
DYNAMODB_TYPES = {"target": "S", "mode": "S", "policy": "S", "paused": "BOOL"}


def spec_rows() -> dict[str, list[str]]:
    operate = section(README, "## Operate")
    rows = table_rows(operate[operate.index("| attribute | DynamoDB type") :])
    assert rows[0] == ["attribute", "DynamoDB type", "default", "what it holds"]
    table = {}
    for row in rows[1:]:
        if not row[0].startswith("`"):
            break
        table[row[0].strip("`")] = row[1:]
    return table


def json_examples(text: str) -> Iterator[dict[str, Any]]:
    for block in re.findall(r"```json\n(.*?)\n```", text, re.S):
        yield json.loads(block)


# -- the spec ---------------------------------------------------------------------------------


def test_the_readme_spec_table_lists_exactly_the_model_fields_with_their_defaults() -> None:
    rows = spec_rows()
    assert list(rows) == list(SPEC_FIELDS)
    fields = {field.name: field for field in dataclasses.fields(Spec)}
    for name, (kind, documented, holds) in rows.items():
        default = fields[name].default
        if default is dataclasses.MISSING:
            assert documented == "(required)", name
        elif default is None:
            assert documented == "none", name
        else:
            assert documented == f"`{json.dumps(default)}`".replace('"', ""), name
        if name in DYNAMODB_TYPES:
            assert kind == DYNAMODB_TYPES[name], name
        assert holds, name
    for literal in (*MODES, *POLICIES):
        assert f"`{literal}`" in " ".join(rows["mode"] + rows["policy"])
    bounds = f"{RECONCILE_TOKEN_LENGTH[0]} to {RECONCILE_TOKEN_LENGTH[1]} characters"
    assert bounds in rows["reconcileToken"][2]


def test_the_workflow_page_names_the_same_spec_attributes() -> None:
    spec_table = flat(
        section(WORKFLOW, "### Spec table (`SpecTable`, stream `NEW_AND_OLD_IMAGES`)")
    )
    listed = spec_table[: spec_table.index("Nothing else is allowed")]
    named = re.findall(r"`(\w+)` \(", listed)
    assert named == list(SPEC_FIELDS)


def test_the_documented_size_limit_is_the_validation_limit() -> None:
    assert f"larger than {MAX_SPEC_BYTES:,} bytes" in flat(README)
    assert f"larger than {MAX_SPEC_BYTES:,} bytes" in flat(WORKFLOW)
    assert f"larger than {MAX_SPEC_BYTES:,} bytes" in flat(read("docs/runbook.md"))


@pytest.mark.parametrize("document", ["README.md", "docs/workflow.md"])
def test_every_json_spec_example_is_valid(document: str) -> None:
    examples = [e for e in json_examples(read(document)) if "target" in e and "phase" not in e]
    assert examples
    for example in examples:
        if set(example) <= set(SPEC_FIELDS):
            result = validate(example, CONTEXT)
            assert result.valid, (example, result.message)


def test_a_string_paused_is_invalid_with_the_message_the_readme_quotes() -> None:
    # GIVEN a console edit that typed paused as a String
    result = validate({"target": TARGET, "paused": "true"}, CONTEXT)
    # THEN the item is Invalid, and the message is the one the README shows
    assert not result.valid
    quoted = re.search(r"the status message says `([^`]+)`", flat(README))
    assert quoted is not None
    assert result.message == quoted.group(1)
    assert result.message.startswith("paused: ")


def test_the_invalid_example_message_is_the_validators() -> None:
    quoted = re.search(r"to fix, for example `([^`]+)`", flat(README))
    assert quoted is not None
    result = validate({"target": TARGET, "mode": "timestream", "timestream": {
        "databaseName": "fleet", "tableName": "signals"}}, CONTEXT)  # fmt: skip
    assert quoted.group(1) in result.message.split("; ")


# -- the status -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written_statuses() -> Iterator[list[dict[str, Any]]]:
    """Status items as a rehearsed stack writes them: Registered, Failed with an error,
    Invalid, Paused, a dead run's and Unmanaged."""
    items: list[dict[str, Any]] = []
    with Rehearsal({"ManageDefaultTarget": "false"}, jitter_fraction=0.5) as r:
        assert r.sim is not None

        def keep() -> None:
            r.settle()
            items.append(r.status() or {})

        r.write_spec({"target": TARGET})
        keep()
        r.sim.forget_registration()
        r.sim.fail_next("RegisterAccount", "AccessDeniedException", "not authorized")
        r.update_spec(TARGET, reconcileToken="denied")
        keep()
        r.update_spec(TARGET, paused="yes")
        keep()
        r.update_spec(TARGET, paused=True)
        keep()
        # a run stopped while it waits for its registration (the clock driven by hand)
        r.clock.auto_advance = False
        r.update_spec(TARGET, paused=False, reconcileToken="again")
        r.settle()
        r.stop_execution(r.running_executions(TARGET)[0]["executionArn"])
        r.settle()
        r.clock.auto_advance = True
        keep()
        r.delete_spec(TARGET)
        keep()
        yield items


def keys(value: Any) -> set[str]:
    """Every key of a status item at any depth, but not inside ``observedSpec`` (a copy of
    the spec item, documented with the spec)."""
    if isinstance(value, dict):
        inner = {k for name, v in value.items() if name != "observedSpec" for k in keys(v)}
        return set(value) | inner
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_the_rehearsal_wrote_each_kind_of_status(written_statuses: list[dict[str, Any]]) -> None:
    assert [s["phase"] for s in written_statuses] == [
        "Registered", "Failed", "Invalid", "Paused", "Failed", "Unmanaged",
    ]  # fmt: skip
    assert written_statuses[4]["reason"] == "ExecutionAborted"


def test_the_workflow_page_documents_every_status_field_written(
    written_statuses: list[dict[str, Any]],
) -> None:
    status_doc = flat(
        WORKFLOW[WORKFLOW.index('- `kind = "STATUS"`') : WORKFLOW.index('- `kind = "LEASE"`')]
    )
    documented = (
        set(re.findall(r"`(\w+)`", status_doc))
        | set(re.findall(r"`(\w+) \{", status_doc))
        | set(re.findall(r"[{,] ?(\w+)", status_doc))
    )
    written = set().union(*(keys(s) for s in written_statuses)) - {"target", "kind"}
    assert written <= documented, sorted(written - documented)
    # and nothing it names as a field is never written (phases, condition types and the
    # code it points at aside)
    named = set(re.findall(r"`([a-z]\w+)`", status_doc)) - {"build_status"}
    assert named <= written, sorted(named - written)


def test_the_readme_status_fields_are_written(written_statuses: list[dict[str, Any]]) -> None:
    text = README[README.index("What the status says") : README.index("An invalid spec makes")]
    named = set(re.findall(r"`([a-z]\w+)`", text)) - {"status", "reconcileToken"}
    written = set().union(*(keys(s) for s in written_statuses))
    assert named <= written, sorted(named - written)
    values = set(re.findall(r"`([A-Z]\w+)`", text))
    known = {str(p) for p in Phase} | set(CONDITION_TYPES) | {"DriftCheckSilent"}
    known |= {"MaxRegistrationAttempts", AWAITING_ADOPTION}
    assert values <= known, sorted(values - known)
    assert {str(p) for p in Phase} <= values


def test_the_documented_history_bounds_are_the_settings() -> None:
    defaults = Settings()
    said = f"at most {defaults.history_limit}, none older than {defaults.history_days} days"
    assert said in flat(README)
    assert f"expires {defaults.history_days} days later" in flat(README)


def test_unmanaged_statuses_expire_and_carry_no_spec_version(
    written_statuses: list[dict[str, Any]],
) -> None:
    unmanaged = written_statuses[-1]
    assert "specHash" not in unmanaged and "expiresAt" in unmanaged
