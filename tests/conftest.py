"""Fixtures shared by every test: a fake AWS environment, the network closed, and moto tables
shaped exactly like template.yaml's SpecTable and StatusTable (read from the template itself,
so the two cannot drift apart)."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

import parsed_once
from fleetwise_reconciler import settings as settings_module
from fleetwise_reconciler.dal.repository import SpecRepository, StatusRepository

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SPEC_TABLE = "fleetwise-reconciler-spec"
STATUS_TABLE = "fleetwise-reconciler-status"

# -- mutation testing (make mutation) -------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut (it sets MUTANT_UNDER_TEST), run the tests without moto first: mutmut stops
    at the first failure, so a mutant a pure test kills costs milliseconds instead of a moto
    setup per test. The order within each group is kept; normal runs are left alone."""
    if "MUTANT_UNDER_TEST" in os.environ:
        items.sort(key=lambda item: "mocked_aws" in getattr(item, "fixturenames", ()))


# -- the network ----------------------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network (tried {address!r})")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network (tried {address!r})")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only loopback connections: moto servers and the FleetWise simulator, nothing else."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# -- botocore's data files, parsed once per process (parsed_once.py says why) ---------------


@pytest.fixture(autouse=True, scope="session")
def _botocore_data_parsed_once() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", parsed_once.botocore_loader)
        yield


# -- the environment ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a fixed Region, whatever the developer's shell has configured."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_IOTFLEETWISE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # botocore 1.44 would otherwise route some calls to account-ID endpoints moto does not match.
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("ACCOUNT_ID", ACCOUNT_ID)
    monkeypatch.setenv("SPEC_TABLE_NAME", SPEC_TABLE)
    monkeypatch.setenv("STATUS_TABLE_NAME", STATUS_TABLE)
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


# -- moto tables ----------------------------------------------------------------------------


def template_table(logical_id: str) -> dict[str, Any]:
    """The Properties of a table in template.yaml."""
    properties: dict[str, Any] = parsed_once.template()["Resources"][logical_id]["Properties"]
    return properties


def create_table(client: Any, logical_id: str, name: str) -> None:
    """Create ``name`` in moto with the key schema, stream and TTL the template declares."""
    properties = template_table(logical_id)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
    }
    if "StreamSpecification" in properties:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    client.create_table(**kwargs)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    with mock_aws():
        yield


@functools.cache
def _dynamodb_client() -> Any:
    # Building a client costs more than a test; one is enough, and moto intercepts it in
    # every mock_aws context because it was built after moto was imported.
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    """A low-level DynamoDB client on moto, to arrange and inspect raw items."""
    return _dynamodb_client()


@pytest.fixture
def tables(dynamodb: Any) -> dict[str, str]:
    """Both tables, created in moto; returns their names by logical id."""
    create_table(dynamodb, "SpecTable", SPEC_TABLE)
    create_table(dynamodb, "StatusTable", STATUS_TABLE)
    return {"SpecTable": SPEC_TABLE, "StatusTable": STATUS_TABLE}


@pytest.fixture
def spec_repository(tables: dict[str, str]) -> SpecRepository:
    return SpecRepository(tables["SpecTable"], region=REGION)


@pytest.fixture
def status_repository(tables: dict[str, str]) -> StatusRepository:
    return StatusRepository(tables["StatusTable"], region=REGION)
