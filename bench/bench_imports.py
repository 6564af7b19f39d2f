"""Cold-start cost of each handler: import plus client set-up, against boto3 alone.

Each measurement runs in a fresh interpreter (nothing cached in sys.modules), several times;
the table shows the median CPU time of the process (imports and client set-up are CPU-bound),
the ratio to ``boto3.client("iotfleetwise")`` alone (aim: at most 1.25x; the median of ratios
to a baseline run just before each, so load on the machine cancels out), the median wall time
and the peak resident memory. It only reports; nothing is asserted.
PynamoDB builds its botocore client on first use, so a repository's set-up is its
construction plus that of the client it will use (built here without a request).

The handlers run with botocore as the layer ships it (src/lean_botocore.py: the models of the
services they call, no others), the baseline with the full botocore a bare function gets
from the Lambda runtime; the last column shows each handler's ratio with the full botocore
too. Both sides run from cached bytecode, as a warm machine here does.
"""

from __future__ import annotations

import compileall
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import botocore

import lean_botocore

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "src" / "fleetwise_reconciler" / "handlers"
REPETITIONS = 7
AIM = 1.25

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
}

PROBE = """
import json, resource, time
start, cpu_start = time.perf_counter(), time.process_time()
{body}
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "maxrss_kib": peak}}))
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
        f"import fleetwise_reconciler.handlers.{module}",
        "from fleetwise_reconciler import wiring",
    ]
    lines += [SETUP[name] for name in HANDLER_CLIENTS[module]]
    return "\n".join(lines)


def layer_botocore(destination: Path) -> str:
    """A copy of this botocore trimmed as the layer's is, compiled; the path to put first."""
    copy = lean_botocore.lean_copy(Path(botocore.__file__).parent, destination)
    compileall.compile_dir(copy, quiet=1)
    return str(destination)


def probe(body: str, path: str | None = None) -> tuple[float, float, int]:
    """One fresh interpreter (with ``path`` first on sys.path, if given): CPU seconds, wall
    seconds, peak RSS (KiB)."""
    environment = dict(ENVIRONMENT, **({"PYTHONPATH": path} if path else {}))
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["cpu_seconds"], result["seconds"], result["maxrss_kib"]


def measure(body: str, path: str | None = None) -> tuple[float, float, int, float, float]:
    """The handler's median CPU and wall seconds (with ``path`` first), its largest peak RSS
    (KiB), the median of its CPU time over the baseline's measured just before it, pair by
    pair (other work on the machine slows both sides of a pair alike, so the ratio holds
    still when the absolute figures drift), and the same ratio without ``path``."""
    cpu, seconds, peaks, ratios, full_ratios = [], [], [], [], []
    for _ in range(REPETITIONS):
        base_cpu, _, _ = probe(BASELINE)
        run_cpu, run_seconds, run_peak = probe(body, path)
        full_cpu, _, _ = probe(body) if path else (run_cpu, 0.0, 0)
        cpu.append(run_cpu)
        seconds.append(run_seconds)
        peaks.append(run_peak)
        ratios.append(run_cpu / base_cpu)
        full_ratios.append(full_cpu / base_cpu)
    return (
        statistics.median(cpu),
        statistics.median(seconds),
        max(peaks),
        statistics.median(ratios),
        statistics.median(full_ratios),
    )


def main() -> int:
    modules = sorted(p.stem for p in HANDLERS.glob("*.py") if p.stem != "__init__")
    if set(modules) != set(HANDLER_CLIENTS):
        raise SystemExit(f"HANDLER_CLIENTS must name every handler: {sorted(modules)}")
    base_cpu, base_seconds, base_peak, _, _ = measure(BASELINE)
    print(
        f"{'handler':<20} {'CPU ms':>7} {'ratio':>6} {'wall ms':>8} {'peak MiB':>9}"
        f" {'full botocore':>14}  aim <= {AIM}x (CPU, paired with the baseline)"
    )
    print(
        f"{'boto3 alone':<20} {base_cpu * 1000:>7.0f} {1.0:>6.2f} {base_seconds * 1000:>8.0f}"
        f" {base_peak / 1024:>9.1f}"
    )
    over = 0
    with tempfile.TemporaryDirectory(prefix="layer-botocore-") as scratch:
        path = layer_botocore(Path(scratch))
        for module in modules:
            cpu, seconds, peak, ratio, full = measure(handler_body(module), path)
            over += ratio > AIM
            flag = "" if ratio <= AIM else "  over the aim"
            print(
                f"{module:<20} {cpu * 1000:>7.0f} {ratio:>6.2f} {seconds * 1000:>8.0f}"
                f" {peak / 1024:>9.1f} {full:>14.2f}{flag}"
            )
    print(f"cold starts: {len(modules) - over}/{len(modules)} handlers at or under {AIM}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
