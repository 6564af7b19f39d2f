"""Cold-start cost of each handler: import plus client set-up, against boto3 alone.

Each measurement runs in a fresh interpreter (nothing cached in sys.modules), several times;
the table shows the median CPU time of the process (imports and client set-up are CPU-bound,
and CPU time, unlike wall time, barely moves when other work shares the machine), the ratio to
``boto3.client("iotfleetwise")`` alone (aim: at most 1.25x), the median wall time and the
peak resident memory. It only reports; nothing is asserted.
PynamoDB builds its botocore client on first use, so a repository's set-up is its
construction plus that of the client it will use (built here without a request).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

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
    "fleetwise": "wiring.fleetwise().client",
    "stepfunctions": "wiring.stepfunctions()",
    "spec_repository": "wiring.spec_repository()._model._get_connection().connection.client",
    "status_repository": "wiring.status_repository()._lease._get_connection().connection.client",
    "validation_context": "wiring.validation_context()",
}


def handler_body(module: str) -> str:
    source = (HANDLERS / f"{module}.py").read_text()
    used = sorted(set(re.findall(r"wiring\.(\w+)\(", source)) & set(SETUP))
    lines = [
        f"import fleetwise_reconciler.handlers.{module}",
        "from fleetwise_reconciler import wiring",
    ]
    lines += [SETUP[name] for name in used]
    return "\n".join(lines)


def measure(body: str) -> tuple[float, float, int]:
    """Median CPU seconds, median wall seconds and the largest peak RSS (KiB) of the probes."""
    cpu, seconds, peaks = [], [], []
    for _ in range(REPETITIONS):
        done = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", PROBE.format(body=body)],
            capture_output=True,
            text=True,
            check=True,
            env=ENVIRONMENT,
            cwd=ROOT,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        cpu.append(result["cpu_seconds"])
        seconds.append(result["seconds"])
        peaks.append(result["maxrss_kib"])
    return statistics.median(cpu), statistics.median(seconds), max(peaks)


def main() -> int:
    modules = sorted(p.stem for p in HANDLERS.glob("*.py") if p.stem != "__init__")
    base_cpu, base_seconds, base_peak = measure(BASELINE)
    print(
        f"{'handler':<20} {'CPU ms':>7} {'ratio':>6} {'wall ms':>8} {'peak MiB':>9}"
        f"  aim <= {AIM}x (CPU)"
    )
    print(
        f"{'boto3 alone':<20} {base_cpu * 1000:>7.0f} {1.0:>6.2f} {base_seconds * 1000:>8.0f}"
        f" {base_peak / 1024:>9.1f}"
    )
    for module in modules:
        cpu, seconds, peak = measure(handler_body(module))
        ratio = cpu / base_cpu
        flag = "" if ratio <= AIM else "  over the aim"
        print(
            f"{module:<20} {cpu * 1000:>7.0f} {ratio:>6.2f} {seconds * 1000:>8.0f}"
            f" {peak / 1024:>9.1f}{flag}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
