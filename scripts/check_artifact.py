"""Check a built Lambda artifact: the reconciler package and its runtime dependencies, nothing else.

Usage: python scripts/check_artifact.py ARTIFACT_DIR [ARTIFACT_DIR ...]

Fails (exit 1) when the artifact lacks the package or a pinned runtime dependency, or carries
something that belongs to development only (the rehearsal, tests, moto, pytest, caches).
Prints the artifact's size. Standard library only, so it runs before any venv exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REQUIRED = (
    "fleetwise_reconciler",
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pynamodb",
    "pydantic",
)
FORBIDDEN = re.compile(
    r"^(fleetwise_rehearsal|fleetwise_cli|tests?|moto|pytest|_pytest|samtranslator|cfnlint"
    r"|mypy|ruff|__pycache__|.*\.egg-info)$"
)
# The unzipped limit of a Lambda deployment package.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def problems(artifact: Path) -> list[str]:
    """What is wrong with the artifact directory; empty when it is fit to ship."""
    if not artifact.is_dir():
        return [f"{artifact} is not a directory (run `sam build` first)"]
    top = {entry.name for entry in artifact.iterdir()}
    found = [f"missing {name}" for name in REQUIRED if name not in top]
    found += [f"must not ship {name}" for name in sorted(top) if FORBIDDEN.match(name)]
    found += [
        f"must not ship {path.relative_to(artifact)}"
        for path in (artifact / "fleetwise_reconciler").rglob("*")
        if path.name == "__pycache__" or path.name.startswith("test_")
    ]
    if size(artifact) > MAX_UNZIPPED_BYTES:
        found.append(f"larger than Lambda's unzipped limit ({MAX_UNZIPPED_BYTES} bytes)")
    return found


def size(artifact: Path) -> int:
    return sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for artifact in map(Path, argv[1:]):
        found = problems(artifact)
        for problem in found:
            print(f"{artifact}: {problem}", file=sys.stderr)
        if found:
            failed = True
        else:
            print(f"{artifact}: ok, {size(artifact) / 1024 / 1024:.1f} MiB unzipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
