"""What keeps cold starts short, checked by structure (no timing): one botocore session per
thread shared by every client the handlers build, PynamoDB's included; no boto3 in the Lambda
package; no validation library anywhere (the spec is checked by hand, models/spec.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pynamodb.connection.base
import pytest

from fleetwise_reconciler import wiring

HANDLERS = Path(__file__).resolve().parents[2] / "src" / "fleetwise_reconciler" / "handlers"


@pytest.fixture(autouse=True)
def fresh_wiring() -> None:
    wiring.reset()


def test_pynamodb_still_takes_its_session_from_the_hook_we_set() -> None:
    # The hook dal.models.use_botocore_session relies on (PynamoDB 6.1): fail loudly if it moves.
    assert callable(pynamodb.connection.base.get_session)
    assert "get_session()" in Path(pynamodb.connection.base.__file__).read_text()


def test_every_client_of_a_thread_comes_from_one_session() -> None:
    # GIVEN the ports the handlers use
    specs, statuses = wiring.spec_repository(), wiring.status_repository()
    session = wiring.botocore_session()
    # THEN PynamoDB's connections and the FleetWise adapter share this thread's session
    assert specs._model._get_connection().connection.session is session
    assert statuses._lease._get_connection().connection.session is session
    assert statuses._status._get_connection().connection.session is session
    assert wiring.fleetwise("eu-central-1")._session is session
    # AND another thread has its own (a botocore session is not thread safe)
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(wiring.botocore_session()))
    thread.start()
    thread.join()
    assert other[0] is not session
    # AND reset() starts afresh (the rehearsal changes the environment between stacks)
    wiring.reset()
    assert wiring.botocore_session() is not session


def test_reset_binds_the_tables_afresh_on_the_new_session() -> None:
    # GIVEN the tables bound, and a connection made, before a reset
    specs = wiring.spec_repository()
    before = specs._model
    assert before._get_connection().connection.session is wiring.botocore_session()
    # WHEN the environment changes (the rehearsal's next stack)
    wiring.reset()
    # THEN the models are bound again, not the old classes with their old connections
    after = wiring.spec_repository()._model
    assert after is not before
    assert after._get_connection().connection.session is wiring.botocore_session()
    assert after._get_connection().connection.session is not (
        before._get_connection().connection.session
    )


def test_a_status_transaction_uses_the_shared_session_too() -> None:
    wiring.spec_repository()  # installs the shared session for PynamoDB
    connection = pynamodb.connection.base.Connection(region="us-east-1")
    assert connection.session is wiring.botocore_session()


def _imported(module: str) -> set[str]:
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module('fleetwise_reconciler.handlers.{module}')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", sorted(p.stem for p in HANDLERS.glob("[a-z]*.py")))
def test_a_handler_imports_neither_boto3_nor_pydantic(module: str) -> None:
    imported = _imported(module)
    assert "boto3" not in imported
    assert "s3transfer" not in imported
    assert "pydantic" not in imported


LEGACY = {
    "target": "123456789012:us-east-1",
    "mode": "timestream",
    "timestream": {"databaseName": "fleet", "tableName": "signals"},
    "iamRoleArn": "arn:aws:iam::123456789012:role/FleetWiseTimestream",
}
OBSERVATIONS = [
    {"registered": True, "accountStatus": "REGISTRATION_SUCCESS"},
    {
        "registered": True,
        "accountStatus": "REGISTRATION_SUCCESS",
        "timestream": {"databaseName": "fleet", "tableName": "other"},
        "iam": {"roleArn": "arn:aws:iam::123456789012:role/Other"},
    },
    {
        "registered": True,
        "accountStatus": "REGISTRATION_SUCCESS",
        "timestream": {"databaseName": "fleet", "tableName": "signals"},
        "iam": {"roleArn": LEGACY["iamRoleArn"]},
    },
]


@pytest.mark.parametrize("raw", [{"target": "123456789012:us-east-1"}, LEGACY])
@pytest.mark.parametrize("observed", OBSERVATIONS)
def test_poll_compares_the_normalised_spec_exactly_as_the_validated_one(
    raw: dict[str, object], observed: dict[str, object]
) -> None:
    # GIVEN the spec Observe validated and passed on, normalised (what Poll receives)
    from fleetwise_reconciler.logic.compare import differences
    from fleetwise_reconciler.logic.validate import ValidationContext, validate
    from fleetwise_reconciler.models.spec import Spec

    validated = validate(raw, ValidationContext(account_id="123456789012")).spec
    assert validated is not None
    passed_on = validated.as_dict()
    # THEN the spec Poll rebuilds from it is the same, and finds the same differences
    assert Spec.from_dict(passed_on) == validated
    assert differences(Spec.from_dict(passed_on), observed) == differences(validated, observed)


# Register and Poll check the target's lease in the status table (and Register records its
# attempt there), so only the trigger is without tables.
@pytest.mark.parametrize("module", ["stream_trigger"])
def test_a_handler_that_never_reads_a_table_does_not_load_pynamodb(module: str) -> None:
    assert "pynamodb" not in _imported(module)
