"""The layer's botocore keeps the service models the functions use and no other
(src/lean_botocore.py): every service the handlers' tests call is kept, every client the
package builds can be built from a trimmed copy, and a trim that would drop a model in use
refuses before it removes anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import botocore
import botocore.session
import pytest

import lean_botocore

ROOT = Path(__file__).resolve().parents[2]
LEDGER = ROOT / "tests" / "security" / "observed_calls.json"


def _signing_names() -> dict[str, str]:
    """IAM prefix -> botocore service name, for the kept ones. The prefix is the service's
    signing name, which the model states when it differs from its endpoint prefix."""
    session = botocore.session.get_session()
    names = {}
    for service in lean_botocore.SERVICES:
        metadata = session.get_service_model(service).metadata
        names[metadata.get("signingName", metadata["endpointPrefix"])] = service
    return names


def test_every_service_the_handlers_call_is_kept() -> None:
    # The call ledger: every AWS action each handler's tests made (tests/security).
    ledger = json.loads(LEDGER.read_text())
    prefixes = {action.split(":")[0] for actions in ledger.values() for action in actions}
    kept = _signing_names()
    assert prefixes <= set(kept), f"calls to services the layer drops: {prefixes - set(kept)}"
    # AND nothing is kept that no handler calls (the list stays honest both ways)
    assert {kept[prefix] for prefix in prefixes} == lean_botocore.SERVICES


REGIONS = ("us-east-1", "eu-central-1", "ap-south-1", "cn-north-1", "us-gov-west-1", "aws-global")

SERVICES = ("dynamodb", "iotfleetwise", "lambda", "ssm", "stepfunctions", "sts")

# Builds each kept service's client in each Region, then one the layer drops; prints where
# each would send its requests and how it would sign them.
PROBE = f"""
import json, botocore.session
session = botocore.session.get_session()
built = []
for name in {sorted(SERVICES)!r}:
    for region in {REGIONS!r}:
        client = session.create_client(name, region_name=region,
            aws_access_key_id="a", aws_secret_access_key="b")
        built.append([name, region, client.meta.endpoint_url, client.meta.region_name,
                      client._request_signer._region_name])
try:
    session.create_client("s3", region_name="eu-central-1")
    built.append(["s3", "built"])
except Exception as error:
    built.append(["s3", type(error).__name__])
print(json.dumps([botocore.__file__, built]))
"""


def _probe(path: Path | None) -> tuple[Path, list[list[str]]]:
    environment = {"AWS_EC2_METADATA_DISABLED": "true"}
    if path is not None:
        environment["PYTHONPATH"] = str(path)
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    origin, built = json.loads(done.stdout)
    return Path(origin), built


def test_a_trimmed_copy_builds_every_client_as_the_full_botocore_does(tmp_path: Path) -> None:
    assert tuple(sorted(lean_botocore.SERVICES)) == SERVICES
    lean_botocore.lean_copy(Path(botocore.__file__).parent, tmp_path)
    data = tmp_path / "botocore" / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(SERVICES)
    # The shared data stays (endpoints, partitions, retries, defaults).
    top = sorted(p.name for p in data.iterdir() if p.is_file())
    assert {"endpoints.json", "partitions.json", "_retry.json"} <= set(top)
    endpoints = json.loads((data / "endpoints.json").read_text())
    assert {key for p in endpoints["partitions"] for key in p["services"]} == {
        "dynamodb",
        "iotfleetwise",
        "lambda",
        "ssm",
        "states",
        "sts",
    }
    # WHEN every client is built from the trimmed copy and from the full botocore
    origin, trimmed = _probe(tmp_path)
    full_origin, full = _probe(None)
    # THEN the probe ran the trimmed copy, which really lacks the rest
    assert origin.parent == tmp_path / "botocore"
    assert full_origin.parent == Path(botocore.__file__).parent
    assert trimmed[-1] == ["s3", "UnknownServiceError"]
    assert full[-1] == ["s3", "built"]
    # AND every kept client goes to the same endpoint and signs for the same Region
    assert trimmed[:-1] == full[:-1]
    china = trimmed[REGIONS.index("cn-north-1")]
    assert china[:3] == ["dynamodb", "cn-north-1", "https://dynamodb.cn-north-1.amazonaws.com.cn"]
    assert len(trimmed[:-1]) == len(SERVICES) * len(REGIONS)


def test_a_trim_that_would_lose_a_model_in_use_removes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for name in ("dynamodb", "iotfleetwise", "lambda", "ssm", "sts", "s3"):
        (data / name).mkdir(parents=True)
    (data / "endpoints.json").write_text("{}")
    with pytest.raises(SystemExit, match="lacks the service models stepfunctions"):
        lean_botocore.trim(data)
    assert sorted(p.name for p in data.iterdir()) == [
        "dynamodb",
        "endpoints.json",
        "iotfleetwise",
        "lambda",
        "s3",
        "ssm",
        "sts",
    ]


def test_a_directory_that_is_not_botocore_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s3").mkdir()
    with pytest.raises(SystemExit, match="not a botocore data directory"):
        lean_botocore.trim(tmp_path)
    assert (tmp_path / "s3").is_dir()


def test_the_command_trims_a_layer_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "botocore" / "data"
    prefixes = {"stepfunctions": "states", "ec2": "ec2", "s3": "s3"}
    for name in (*lean_botocore.SERVICES, "ec2", "s3"):
        (data / name / "2020-01-01").mkdir(parents=True)
        model = {"metadata": {"endpointPrefix": prefixes.get(name, name)}}
        (data / name / "2020-01-01" / "service-2.json").write_text(json.dumps(model))
    services = {prefix: {"endpoints": {}} for prefix in ("dynamodb", "ec2", "states", "sts")}
    partition = {"partition": "aws", "dnsSuffix": "amazonaws.com", "services": services}
    (data / "endpoints.json").write_text(json.dumps({"partitions": [partition], "version": 3}))
    assert lean_botocore.main(["lean_botocore.py", str(tmp_path)]) == 0
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(lean_botocore.SERVICES)
    kept = {"dynamodb": {"endpoints": {}}, "states": {"endpoints": {}}, "sts": {"endpoints": {}}}
    assert json.loads((data / "endpoints.json").read_text()) == {
        "partitions": [dict(partition, services=kept)],
        "version": 3,
    }
    assert capsys.readouterr().out == (
        "botocore models: kept dynamodb, iotfleetwise, lambda, ssm, stepfunctions, sts; "
        "removed 2 others\n"
    )
