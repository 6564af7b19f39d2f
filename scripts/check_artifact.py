"""Check the built Lambda artifacts: one shared layer with the runtime dependencies, and
functions that hold the reconciler package and nothing else.

Usage: python scripts/check_artifact.py LAYER_DIR FUNCTION_DIR [FUNCTION_DIR ...]

Fails (exit 1) when the layer lacks a pinned runtime dependency or carries the package or
anything that belongs to development only (the rehearsal, tests, moto, pytest) or
other botocore service models than the functions use (src/lean_botocore.py), or
when a function carries anything but the package, or when the bytecode is not what the
Lambda runtime will use as it is (src/Makefile): every ``.py`` of the layer and of the
package needs its ``__pycache__/<name>.cpython-313.pyc``, unchecked hash-based (PEP 552),
whose recorded hash is that of the source beside it; a stale one, a timestamp-based or
checked one, one of another Python version or optimisation level, or one without a source
fails. Prints every artifact's size and bytecode count. Standard library only, so it runs
before any venv exists.
"""

from __future__ import annotations

import _imp
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
    r"|mypy|ruff|.*\.egg-info)$"
)

# The Lambda runtime's CPython: its cache tag, and the magic number that starts its .pyc
# (fixed for every 3.13 release: importlib.util.MAGIC_NUMBER on 3.13).
CACHE_TAG = "cpython-313"
MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"
# PEP 552 flags: bit 0 hash-based, bit 1 check the source. Unchecked hash-based: 0b01.
UNCHECKED_HASH = 0b01


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


def source_hash(source: bytes) -> bytes:
    """The hash CPython 3.13 records for ``source`` in a hash-based .pyc: SipHash keyed with
    its magic number (``importlib.util.source_hash`` run by 3.13; ``_imp.source_hash`` takes
    the key, so any CPython from 3.7 computes 3.13's)."""
    return _imp.source_hash(int.from_bytes(MAGIC_313, "little"), source)


def bytecode_problems(root: Path, base: Path) -> tuple[list[str], int]:
    """What is wrong with the bytecode under ``root`` (paths shown from ``base``), and how
    many sources carry the right .pyc."""
    found: list[str] = []
    good = 0
    expected: set[Path] = set()
    for source in sorted(root.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"
        expected.add(pyc)
        shown = source.relative_to(base)
        if not pyc.is_file():
            found.append(f"{shown} has no {CACHE_TAG} bytecode")
            continue
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != MAGIC_313:
            found.append(f"{pyc.relative_to(base)} is not CPython 3.13's bytecode")
        elif flags != UNCHECKED_HASH:
            found.append(f"{pyc.relative_to(base)} is not unchecked hash-based (flags {flags})")
        elif header[8:16] != source_hash(source.read_bytes()):
            found.append(f"{pyc.relative_to(base)} is stale (compiled from another {shown})")
        else:
            good += 1
    found += [
        f"must not ship {pyc.relative_to(base)} (no source of this name, or another Python)"
        for pyc in sorted(root.rglob("*.pyc"))
        if pyc not in expected
    ]
    return found, good


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
    found += bytecode_problems(packages, layer)[0]
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
        if path.name.startswith("test_")
    ]
    found += bytecode_problems(artifact / PACKAGE, artifact)[0]
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
            root = artifact / "python" if artifact == layer else artifact / PACKAGE
            modules = bytecode_problems(root, artifact)[1]
            print(
                f"{artifact}: ok, {kind}, {size(artifact) / 1024 / 1024:.2f} MiB unzipped,"
                f" {modules} modules with {CACHE_TAG} unchecked hash-based bytecode"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
