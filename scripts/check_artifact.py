"""Check the built Lambda artifacts: one shared layer with the runtime dependencies, and
functions that hold the reconciler package and nothing else.

Usage: python scripts/check_artifact.py LAYER_DIR FUNCTION_DIR [FUNCTION_DIR ...]

Fails (exit 1) when the layer lacks a pinned runtime dependency or carries the package or
anything that belongs to development only (the rehearsal, tests, moto, pytest, caches) or
other botocore service models than the functions use (src/lean_botocore.py), or
when a function carries anything but the package. Prints every artifact's size. Standard
library only, so it runs before any venv exists.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

PACKAGE = "fleetwise_reconciler"
DEPENDENCIES = (
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pynamodb",
)
FORBIDDEN = re.compile(
    r"^(fleetwise_rehearsal|fleetwise_cli|tests?|moto|pytest|_pytest|samtranslator|cfnlint"
    r"|mypy|ruff|__pycache__|.*\.egg-info)$"
)


def _kept_services() -> frozenset[str]:
    """``SERVICES`` of src/lean_botocore.py, the botocore models the layer keeps."""
    path = Path(__file__).resolve().parents[1] / "src" / "lean_botocore.py"
    spec = importlib.util.spec_from_file_location("lean_botocore", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.SERVICES)


# Lambda's documented quota: a function and all its layers, unzipped, at most 250 MB.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def size(artifact: Path) -> int:
    return sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())


def _forbidden(root: Path) -> list[str]:
    return [
        f"must not ship {entry.name}"
        for entry in sorted(root.iterdir())
        if FORBIDDEN.match(entry.name)
    ]


def layer_problems(layer: Path) -> list[str]:
    """What is wrong with the layer directory; empty when it is fit to ship."""
    packages = layer / "python"
    if not packages.is_dir():
        return [f"{layer} has no python/ directory (run `sam build` first)"]
    top = {entry.name for entry in packages.iterdir()}
    found = [f"missing {name}" for name in DEPENDENCIES if name not in top]
    found += _forbidden(packages)
    if PACKAGE in top:
        found.append(f"must not ship {PACKAGE} (the functions carry it)")
    models = packages / "botocore" / "data"
    if models.is_dir():
        shipped = {entry.name for entry in models.iterdir() if entry.is_dir()}
        kept = _kept_services()
        found += [f"lacks the botocore model of {name}" for name in sorted(kept - shipped)]
        extra = sorted(shipped - kept)
        if extra:
            found.append(
                f"ships {len(extra)} botocore models the functions never use ({extra[0]}, ...):"
                " src/lean_botocore.py trims them"
            )
    return found


def function_problems(artifact: Path) -> list[str]:
    """What is wrong with a function's artifact directory; empty when it is fit to ship."""
    if not artifact.is_dir():
        return [f"{artifact} is not a directory (run `sam build` first)"]
    top = sorted(entry.name for entry in artifact.iterdir())
    if PACKAGE not in top:
        return [f"missing {PACKAGE}"]
    found = [
        f"must not ship {name} (dependencies belong in the layer)"
        for name in top
        if name != PACKAGE
    ]
    found += [
        f"must not ship {path.relative_to(artifact)}"
        for path in (artifact / PACKAGE).rglob("*")
        if path.name == "__pycache__" or path.name.startswith("test_")
    ]
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    layer, functions = Path(argv[1]), [Path(a) for a in argv[2:]]
    reports = [(layer, layer_problems(layer))]
    reports += [(function, function_problems(function)) for function in functions]
    failed = False
    layer_size = size(layer) if layer.is_dir() else 0
    for artifact, problems in reports:
        found = list(problems)
        total = size(artifact) + (layer_size if artifact != layer else 0)
        if artifact != layer and total > MAX_UNZIPPED_BYTES:
            found.append(
                f"with the layer larger than Lambda's unzipped limit ({MAX_UNZIPPED_BYTES} B)"
            )
        for problem in found:
            print(f"{artifact}: {problem}", file=sys.stderr)
        if found:
            failed = True
        else:
            kind = "layer" if artifact == layer else "function"
            print(f"{artifact}: ok, {kind}, {size(artifact) / 1024 / 1024:.2f} MiB unzipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
