"""``make soak``: the generated interleavings (``interleavings``) at length.

    python -m fleetwise_rehearsal.properties.soak --examples 1000 --workers 2

Each worker process runs the state machine for its share of the examples (its own random
stream; no example database, so a run never replays another's). A failure is shrunk by
Hypothesis and printed with its reproduction as a scenario file. The last line is always::

    soak: <examples> examples, <steps> steps, <violations> violations

where examples counts every example run (shrinking included) and violations the examples
that broke an invariant (at most one per worker: a worker stops at its first). A worker
process that dies (killed, out of memory, an exit from inside the rehearsal) counts as a
violation with what is known of it, so the run always ends with its line instead of waiting
for a result that will never come. Exit 0 when nothing broke, 1 otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

STEPS_PER_EXAMPLE = 20


@dataclass(frozen=True)
class Share:
    """What one worker did."""

    examples: int
    steps: int
    failure: str | None


def run_share(examples: int, steps_per_example: int = STEPS_PER_EXAMPLE) -> Share:
    """Run ``examples`` examples of the state machine in this process."""
    from hypothesis import HealthCheck, settings  # noqa: PLC0415 - only the workers need it
    from hypothesis.stateful import run_state_machine_as_test  # noqa: PLC0415

    from fleetwise_rehearsal.properties.interleavings import ReconcilerMachine  # noqa: PLC0415

    failure = None
    try:
        run_state_machine_as_test(
            ReconcilerMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps_per_example,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            ),
        )
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - whatever broke (an exit included) is the report
        failure = traceback.format_exc()
    return Share(ReconcilerMachine.examples, ReconcilerMachine.steps_run, failure)


def _worker(args: tuple[int, int]) -> Share:
    return run_share(*args)


def run_shares(
    shares: Sequence[int], steps: int, worker: Callable[[tuple[int, int]], Share] = _worker
) -> list[Share]:
    """Each share in its own fresh interpreter (each starts its own embedded AWS and
    simulator); a worker that dies is a failed share, never a wait without end (a
    ``multiprocessing.Pool`` would replace the dead process and wait for its result forever).
    """
    done: list[Share] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
        futures = [pool.submit(worker, (share, steps)) for share in shares]
        for future in futures:
            try:
                done.append(future.result())
            except BrokenProcessPool as died:
                done.append(Share(0, 0, f"a soak worker process died: {died}"))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleetwise_rehearsal.properties.soak",
        description="Run the generated interleavings at length; the last line sums it up.",
    )
    parser.add_argument("--examples", type=int, default=1000, help="examples in all (1000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--steps", type=int, default=STEPS_PER_EXAMPLE, help="steps per example at most (20)"
    )
    args = parser.parse_args(argv)
    if args.examples < 1 or args.workers < 1 or args.steps < 1:
        parser.error("--examples, --workers and --steps are at least 1")
    workers = min(args.workers, args.examples)
    shares = [args.examples // workers + (i < args.examples % workers) for i in range(workers)]
    began = time.monotonic()
    print(
        f"soak: {args.examples} examples of up to {args.steps} steps on {workers} worker(s)",
        flush=True,
    )
    done = run_shares(shares, args.steps)
    failures = [share.failure for share in done if share.failure]
    for failure in failures:
        print(failure, file=sys.stderr)
    examples = sum(share.examples for share in done)
    steps = sum(share.steps for share in done)
    print(f"soak took {time.monotonic() - began:.0f} s", flush=True)
    print(f"soak: {examples} examples, {steps} steps, {len(failures)} violations", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
