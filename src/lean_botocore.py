"""Keep only the botocore service models the functions use.

botocore ships the model of every AWS service (some 400 directories, most of its size), and
the first client a process builds pays for all of them: it lists every model directory
(botocore checks the name against ``Loader.list_available_services``) and parses the endpoint
data of every service (``endpoints.json``, over 1 MB) for its legacy endpoint resolver. The
layer keeps the models of ``SERVICES``, their entries of ``endpoints.json`` (every partition,
its defaults and Regions unchanged) and the rest of botocore's shared data (partitions,
retry and default configurations), and drops the rest.

Usage, from the layer's build (src/Makefile)::

    python lean_botocore.py PACKAGES_DIR     # trims PACKAGES_DIR/botocore/data in place

``tests/unit/test_lean_layer.py`` holds ``SERVICES`` to what the handlers' tests call, and
builds every client from a trimmed copy. Standard library only.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

# The botocore service names (data directories) of every client the Lambda package builds:
# the tables (PynamoDB), IoT FleetWise, Lambda (the drift check hands a large fleet's batches
# to invocations of itself), Step Functions (the stream trigger and the drift check start
# runs), STS (the member role of another account) and Systems Manager (the member accounts'
# lists in Parameter Store).
SERVICES = frozenset({"dynamodb", "iotfleetwise", "lambda", "ssm", "stepfunctions", "sts"})


def endpoint_prefixes(data: Path) -> set[str]:
    """The endpoint prefixes of the kept services, from their models (every API version):
    the keys botocore looks them up by in ``endpoints.json``."""
    prefixes = set()
    for name in SERVICES:
        for model in (data / name).glob("*/service-2.json*"):
            opener = gzip.open if model.suffix == ".gz" else open
            with opener(model, "rt", encoding="utf-8") as stream:
                prefixes.add(json.load(stream)["metadata"]["endpointPrefix"])
    return prefixes


def trim_endpoints(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """``endpoints`` (the content of ``endpoints.json``) with, in every partition, only the
    services of ``prefixes``; all else unchanged."""
    partitions = [
        dict(
            partition,
            services={
                key: value for key, value in partition["services"].items() if key in prefixes
            },
        )
        for partition in endpoints["partitions"]
    ]
    return dict(endpoints, partitions=partitions)


def trim(data: Path) -> list[str]:
    """Remove every service directory of ``data`` (a ``botocore/data``) not in ``SERVICES``,
    and their endpoint entries; the names removed, sorted. Fails, changing nothing, if a
    service it must keep is missing (a botocore too old for the package, or the wrong
    directory)."""
    endpoints_file = data / "endpoints.json"
    if not endpoints_file.is_file():
        raise SystemExit(f"{data} is not a botocore data directory (no endpoints.json)")
    missing = sorted(name for name in SERVICES if not (data / name).is_dir())
    if missing:
        raise SystemExit(f"{data} lacks the service models {', '.join(missing)}")
    endpoints = trim_endpoints(json.loads(endpoints_file.read_text()), endpoint_prefixes(data))
    removed = sorted(
        entry.name for entry in data.iterdir() if entry.is_dir() and entry.name not in SERVICES
    )
    for name in removed:
        shutil.rmtree(data / name)
    endpoints_file.write_text(json.dumps(endpoints, separators=(",", ":")))
    return removed


def lean_copy(botocore_package: Path, destination: Path) -> Path:
    """Copy the botocore package at ``botocore_package`` into ``destination`` (a directory to
    put on ``sys.path``) with its models trimmed as the layer's are; the copy's path."""
    copy = destination / "botocore"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(botocore_package, copy, ignore=ignore)
    trim(copy / "data")
    return copy


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = Path(argv[1]) / "botocore" / "data"
    removed = trim(data)
    kept = ", ".join(sorted(SERVICES))
    print(f"botocore models: kept {kept}; removed {len(removed)} others")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
