"""Cold-start cost of each handler as Lambda runs it, against a bare ``boto3.client``.

What a cold start runs: a fresh interpreter of the runtime's version (CPython 3.13) on the
built artifact (``make build``), read-only, with the layer's packages under ``opt/python``
(Lambda's ``/opt/python``) and the function's code in ``var/task`` (``/var/task``, the
working directory), every file dated 1980-01-01 as ``sam deploy``'s zip dates them, and no
bytecode cache it could write (``PYTHONDONTWRITEBYTECODE=1``; the copy is read-only too).
Each handler imports its module and builds the clients of its common path; the baseline is
``import boto3; boto3.client("iotfleetwise")`` with the full botocore a bare function gets
from the Lambda runtime (the layer's own boto3 and botocore, same version, with every
service model), measured the same way, with its bytecode.

Printed per handler: the median CPU time of the process (imports and client set-up are
CPU-bound) and the median of its ratio to the baseline run just before it (paired, so load on
the machine cancels out; aim: at most 1.25x), the median wall time and the peak resident
memory; then the same handler from a copy without the shipped bytecode (what a cold start
cost before the artifact carried it), against the same baseline with bytecode. It only
reports; nothing is asserted. The probes' own check: every module comes from the copy, and
nothing is written into it.

The artifact must be fresh: the package as in src/, the pinned dependencies, the bytecode as
scripts/check_artifact.py requires. ``--check-fresh`` only says whether it is (exit 1 when
missing or stale: ``make bench`` then runs ``make build`` first); a stale artifact is never
measured.
"""

from __future__ import annotations

import argparse
import compileall
import filecmp
import importlib.util
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "DependenciesLayer"
PACKAGE = "fleetwise_reconciler"
SOURCES = ROOT / "src" / PACKAGE
HANDLERS = SOURCES / "handlers"
REPETITIONS = 7
AIM = 1.25
ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z: the date `sam deploy`'s zip gives every entry

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "SPEC_TABLE_NAME": "spec",
    "STATUS_TABLE_NAME": "status",
    "ACCOUNT_ID": "123456789012",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
    "POWERTOOLS_SERVICE_NAME": "fleetwise-reconciler",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "LANG": "en_US.UTF-8",
    "TZ": "UTC",
}

PROBE = """
import json, resource, sys, time
start, cpu_start = time.perf_counter(), time.process_time()
{body}
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "maxrss_kib": peak,
                  "files": sorted({{f for f in files if f}})}}))
"""

BASELINE = 'import boto3\nboto3.client("iotfleetwise")'

# wiring factory -> what builds the client it hands out. PynamoDB builds each table's client
# on the first request; here it is built through the same (private) path without a request.
SETUP = {
    "fleetwise": 'wiring.fleetwise("us-east-1").client',
    "stepfunctions": "wiring.stepfunctions()",
    "spec_repository": "wiring.spec_repository()._model._get_connection().connection.client",
    "status_repository": "wiring.status_repository()._lease._get_connection().connection.client",
    "validation_context": "wiring.validation_context()",
}


# The clients each handler builds on its common path (a cold start of the steady state), in
# the order it builds them. Left out, as they are built only on a rarer path: the drift
# check's Step Functions client (only when a tick starts a run) and the ExecutionFailed
# function's (only when the event leaves out the execution's input).
HANDLER_CLIENTS: dict[str, tuple[str, ...]] = {
    "acquire": ("status_repository",),
    "deploy_spec": ("spec_repository", "validation_context"),
    "drift_check": ("spec_repository", "status_repository", "validation_context", "fleetwise"),
    "execution_failed": ("status_repository", "spec_repository"),
    "observe": ("spec_repository", "status_repository", "validation_context", "fleetwise"),
    "poll": ("status_repository", "fleetwise"),
    "record": ("spec_repository", "status_repository"),
    "register": ("status_repository", "fleetwise"),
    "stream_trigger": ("stepfunctions",),
}


def handler_body(module: str) -> str:
    lines = [
        f"import {PACKAGE}.handlers.{module}",
        f"from {PACKAGE} import wiring",
    ]
    lines += [SETUP[name] for name in HANDLER_CLIENTS[module]]
    return "\n".join(lines)


def function_dir(module: str) -> Path:
    """The built function whose handler is ``module`` (``drift_check``: DriftCheckFunction)."""
    return BUILD / ("".join(part.title() for part in module.split("_")) + "Function")


def _check_artifact() -> ModuleType:
    path = ROOT / "scripts" / "check_artifact.py"
    spec = importlib.util.spec_from_file_location("check_artifact", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    lines = (ROOT / "src" / "requirements.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if "==" in line and not line.startswith("#")]
    return {name.strip().lower().replace("-", "_"): version.strip() for name, version in pairs}


def staleness(modules: list[str]) -> list[str]:
    """Why the built artifact is not what src/ builds today; empty when it is fresh."""
    if not LAYER.is_dir():
        return [f"no build in {BUILD.relative_to(ROOT)}"]
    check = _check_artifact()
    found: list[str] = list(check.layer_problems(LAYER))
    installed = {p.name.lower() for p in (LAYER / "python").glob("*.dist-info")}
    found += [
        f"the layer lacks {name}=={version} (src/requirements.txt)"
        for name, version in _pins().items()
        if f"{name}-{version}.dist-info" not in installed
    ]
    for module in modules:
        function = function_dir(module)
        problems = check.function_problems(function)
        if problems:
            found += [f"{function.name}: {problem}" for problem in problems]
            continue
        built = function / PACKAGE
        ours = {p.relative_to(SOURCES) for p in SOURCES.rglob("*.py")}
        theirs = {p.relative_to(built) for p in built.rglob("*.py")}
        found += [f"{function.name} differs from src/ in {p}" for p in sorted(ours ^ theirs)]
        found += [
            f"{function.name}: {p} differs from src/"
            for p in sorted(ours & theirs)
            if not filecmp.cmp(SOURCES / p, built / p, shallow=False)
        ]
    return found


def python_313() -> str | None:
    """A CPython 3.13 (the Lambda runtime's version): python3.13 on PATH, or pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which("python3.13")]
    candidates += [str(p) for p in sorted(pyenv.glob("versions/3.13*/bin/python3.13"))]
    for candidate in filter(None, candidates):
        answer = subprocess.run(  # noqa: S603 - an interpreter asked its version
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if answer.stdout.strip() == "True":
            return candidate
    return None


class Copy:
    """A read-only copy of the artifact as Lambda lays it out, with and without bytecode."""

    def __init__(self, scratch: Path, modules: list[str], interpreter: str, native: bool):
        self.root = scratch
        for bytecode in (True, False):
            tree = self.tree(bytecode)
            shutil.copytree(LAYER / "python", tree / "opt" / "python")
            for module in modules:
                shutil.copytree(function_dir(module) / PACKAGE, tree / module / PACKAGE)
            # The baseline: the layer's boto3 and botocore with every model, like the runtime's.
            base = tree / "base" / "python"
            shutil.copytree(LAYER / "python", base)
            shutil.rmtree(base / "botocore" / "data")
            shutil.copytree(_full_botocore_data(), base / "botocore" / "data")
            if bytecode and not native:
                # Another interpreter than the runtime's cannot read cpython-313 bytecode:
                # give both sides bytecode of its own, compiled the same way.
                unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
                compileall.compile_dir(tree, quiet=1, workers=0, invalidation_mode=unchecked)
            if not bytecode:
                for cache in list(tree.rglob("__pycache__")):
                    shutil.rmtree(cache)
        self.files = self.listing()
        self._freeze(read_only=True)
        self.interpreter = interpreter

    def tree(self, bytecode: bool) -> Path:
        return self.root / ("with-bytecode" if bytecode else "without-bytecode")

    def listing(self) -> set[Path]:
        return set(self.root.rglob("*"))

    def _freeze(self, *, read_only: bool) -> None:
        for path in [*self.root.rglob("*"), self.root]:
            if read_only:
                os.utime(path, (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)
            mode = 0o555 if path.is_dir() else 0o444
            path.chmod(mode if read_only else mode | 0o200)

    def thaw(self) -> None:
        self._freeze(read_only=False)

    def probe(self, body: str, module: str | None, bytecode: bool) -> tuple[float, float, int]:
        """One fresh interpreter: CPU seconds, wall seconds, peak RSS (KiB)."""
        tree = self.tree(bytecode)
        if module is None:
            path, task = [tree / "base" / "python"], tree / "base"
        else:
            path, task = [tree / module, tree / "opt" / "python"], tree / module
        environment = dict(ENVIRONMENT, PYTHONPATH=os.pathsep.join(map(str, path)))
        done = subprocess.run(  # noqa: S603 - our own probe in the runtime's interpreter
            [self.interpreter, "-c", PROBE.format(body=body)],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
            cwd=task,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        outside = [f for f in result["files"] if "-packages" in f or PACKAGE in f]
        outside = [f for f in outside if not f.startswith(str(tree))]
        if outside:
            raise SystemExit(f"a probe imported from outside the copy: {outside[:3]}")
        return result["cpu_seconds"], result["seconds"], result["maxrss_kib"]


def _full_botocore_data() -> Path:
    """This environment's botocore models, which must be the layer's botocore version."""
    import botocore  # noqa: PLC0415 - only to find its data

    pinned = _pins()["botocore"]
    if botocore.__version__ != pinned:
        raise SystemExit(f"botocore {botocore.__version__} here, {pinned} in the layer")
    return Path(botocore.__file__).parent / "data"


def measure(copy: Copy, body: str, module: str) -> tuple[float, float, int, float, float, float]:
    """Medians of the handler's CPU and wall seconds with the shipped bytecode, its largest
    peak RSS (KiB), its CPU time over the baseline's run just before it (pair by pair), and
    without the shipped bytecode: the median CPU seconds and ratio to the same baseline."""
    cpu, seconds, peaks, ratios, bare_cpu, bare_ratios = [], [], [], [], [], []
    for _ in range(REPETITIONS):
        base_cpu, _, _ = copy.probe(BASELINE, None, bytecode=True)
        run_cpu, run_seconds, run_peak = copy.probe(body, module, bytecode=True)
        cold_cpu, _, _ = copy.probe(body, module, bytecode=False)
        cpu.append(run_cpu)
        seconds.append(run_seconds)
        peaks.append(run_peak)
        ratios.append(run_cpu / base_cpu)
        bare_cpu.append(cold_cpu)
        bare_ratios.append(cold_cpu / base_cpu)
    return (
        statistics.median(cpu),
        statistics.median(seconds),
        max(peaks),
        statistics.median(ratios),
        statistics.median(bare_cpu),
        statistics.median(bare_ratios),
    )


def baseline(copy: Copy) -> tuple[float, float, int, float]:
    """The bare client's medians with bytecode (CPU, wall, peak) and its CPU without."""
    runs = [copy.probe(BASELINE, None, bytecode=True) for _ in range(REPETITIONS)]
    cold = [copy.probe(BASELINE, None, bytecode=False)[0] for _ in range(REPETITIONS)]
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        max(r[2] for r in runs),
        statistics.median(cold),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check-fresh", action="store_true", help="only check the build")
    options = parser.parse_args(argv)
    modules = sorted(p.stem for p in HANDLERS.glob("*.py") if p.stem != "__init__")
    if set(modules) != set(HANDLER_CLIENTS):
        raise SystemExit(f"HANDLER_CLIENTS must name every handler: {sorted(modules)}")
    stale = staleness(modules)
    if options.check_fresh or stale:
        for reason in stale[:10]:
            print(f"bench_imports: stale build: {reason}", file=sys.stderr)
        if stale and not options.check_fresh:
            print("bench_imports: run `make build` first (make bench does)", file=sys.stderr)
        return 1 if stale else 0
    found = python_313()
    interpreter = found or sys.executable
    version = subprocess.run(  # noqa: S603 - the interpreter's own version
        [interpreter, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(
        f"cold starts as Lambda runs them: Python {version} ({interpreter})"
        + ("" if found else ", not the runtime's 3.13 (none found): bytecode compiled for it")
        + f"; a read-only copy of {BUILD.relative_to(ROOT)}, PYTHONDONTWRITEBYTECODE=1;"
        f" medians of {REPETITIONS} fresh interpreters"
    )
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        copy = Copy(Path(scratch), modules, interpreter, native=found is not None)
        try:
            base_cpu, base_seconds, base_peak, base_cold = baseline(copy)
            print(f"{'':<22} {'--- with the shipped bytecode ---':^38}  {'--- without ---':^14}")
            print(
                f"{'handler':<22} {'CPU ms':>7} {'ratio':>6} {'wall ms':>8} {'peak MiB':>9}"
                f"  {'CPU ms':>7} {'ratio':>6}  aim <= {AIM}x (CPU, paired with the baseline)"
            )
            print(
                f"{'boto3.client alone':<22} {base_cpu * 1000:>7.0f} {1.0:>6.2f}"
                f" {base_seconds * 1000:>8.0f} {base_peak / 1024:>9.1f}"
                f"  {base_cold * 1000:>7.0f} {base_cold / base_cpu:>6.2f}"
            )
            over = 0
            for module in modules:
                cpu, seconds, peak, ratio, cold, cold_ratio = measure(
                    copy, handler_body(module), module
                )
                over += ratio > AIM
                flag = "" if ratio <= AIM else "  over the aim"
                print(
                    f"{module:<22} {cpu * 1000:>7.0f} {ratio:>6.2f} {seconds * 1000:>8.0f}"
                    f" {peak / 1024:>9.1f}  {cold * 1000:>7.0f} {cold_ratio:>6.2f}{flag}"
                )
            written = copy.listing() - copy.files
            if written:
                raise SystemExit(f"the probes wrote into the read-only copy: {sorted(written)[:3]}")
        finally:
            copy.thaw()
    print(
        f"cold starts: {len(modules) - over}/{len(modules)} handlers at or under {AIM}x"
        " the bare client with bytecode"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
