"""Settings from the environment the template sets."""

from __future__ import annotations

import pytest

from fleetwise_reconciler.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh() -> None:
    get_settings.cache_clear()


def test_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTION_TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("MAX_LOOPS", "0")
    monkeypatch.setenv("ALLOWED_PASS_ROLE_ARNS", "arn:aws:iam::1:role/a, arn:aws:iam::1:role/b")
    monkeypatch.delenv("SERVED_REGIONS", raising=False)
    settings = get_settings()
    # The lease outlives the longest run by construction: the execution timeout plus a margin.
    assert (settings.execution_timeout_seconds, settings.lease_seconds) == (600, 900)
    assert settings.max_loops == 0
    assert settings.allowed_pass_role_arns == ("arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b")
    assert settings.served_regions == ("us-east-1", "eu-central-1", "ap-south-1")
    assert settings.registration_budget_seconds == 900
    assert settings.drift_check_batch_size == 500


def test_the_drift_check_batch_size_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_CHECK_BATCH_SIZE", "1")
    assert get_settings().drift_check_batch_size == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "EXECUTION_TIMEOUT_SECONDS",
            "ten",
            "EXECUTION_TIMEOUT_SECONDS must be an integer, got 'ten'",
        ),
        (
            "EXECUTION_TIMEOUT_SECONDS",
            "0",
            "EXECUTION_TIMEOUT_SECONDS must be at least 1, got 0",
        ),
        ("MAX_LOOPS", "-1", "MAX_LOOPS must be at least 0, got -1"),
        ("DRIFT_CHECK_BATCH_SIZE", "0", "DRIFT_CHECK_BATCH_SIZE must be at least 1, got 0"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        get_settings()


def test_the_lightweight_handlers_do_not_import_pydantic() -> None:
    # Cold start: only the handlers that validate a spec pay for pydantic (make bench).
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import fleetwise_reconciler.handlers.acquire, fleetwise_reconciler.handlers.record\n"
        "import fleetwise_reconciler.handlers.register\n"
        "import fleetwise_reconciler.handlers.execution_failed\n"
        "import fleetwise_reconciler.handlers.stream_trigger\n"
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
