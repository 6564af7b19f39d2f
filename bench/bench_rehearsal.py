"""`make bench`: what one rehearsed registration costs, and what the poll backoff buys.

1. Wall time of one full rehearsed registration (spec write -> Registered, 5 virtual minutes
   pending), deploy reported separately, against a bare moto DynamoDB PutItem in the same run.
2. The template's poll schedule (InitialWaitSeconds, then Retry with FULL jitter exactly as
   Step Functions computes it: delay_n = U(0, min(Interval * Rate^n, MaxDelay))) for pending
   times ~ Normal(300 s, 60 s): mean polls and p95 latency of the completion notice, beside
   the public edge scripts' fixed 5 s polls.
"""

from __future__ import annotations

import math
import random
import statistics
import time

import boto3
import moto

from fleetwise_rehearsal.aws.stack import aws_environment
from fleetwise_rehearsal.rehearsal import Rehearsal

SAMPLES = 20_000
RUNS = 3


def rehearsed_registration() -> tuple[float, float]:
    """(deploy wall s, spec write -> Registered wall s)."""
    started = time.perf_counter()
    with Rehearsal({"ManageDefaultTarget": "false"}) as rehearsal:
        deployed = time.perf_counter()
        rehearsal.write_spec({"target": rehearsal.default_target})
        rehearsal.settle()
        done = time.perf_counter()
        status = rehearsal.status() or {}
        if status.get("phase") != "Registered":
            raise SystemExit(f"the rehearsal did not register: {status.get('phase')}")
    return deployed - started, done - deployed


def bare_put_item(count: int = 200) -> float:
    """Mean wall seconds of one moto DynamoDB PutItem."""
    with aws_environment(), moto.mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="bench",
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="bench", Item={"k": {"S": "warm"}})
        started = time.perf_counter()
        for i in range(count):
            ddb.put_item(TableName="bench", Item={"k": {"S": str(i)}})
        return (time.perf_counter() - started) / count


def backoff(
    pending: float,
    rng: random.Random,
    *,
    initial: float = 210,
    interval: float = 5,
    rate: float = 2.0,
    cap: float = 30,
    max_attempts: int = 80,
) -> tuple[int, float]:
    """(polls, seconds from completion to the poll that sees it) for one registration."""
    now = initial
    polls = 1
    for n in range(max_attempts):
        if now >= pending:
            break
        now += rng.uniform(0, min(interval * rate**n, cap))
        polls += 1
    return polls, max(0.0, now - pending)


def fixed(pending: float, every: float = 5.0) -> tuple[int, float]:
    """The edge scripts: a poll right away and every ``every`` seconds after it."""
    seen = math.ceil(pending / every)
    return seen + 1, seen * every - pending


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    rows = [rehearsed_registration() for _ in range(RUNS)]
    deploy_s = statistics.median(d for d, _ in rows)
    registration_s = statistics.median(r for _, r in rows)
    put_s = bare_put_item()
    print(f"Rehearsal cost (median of {RUNS} runs)")
    print(f"  {'deploy template.yaml into moto':<46} {deploy_s * 1000:9.0f} ms")
    print(f"  {'spec write -> Registered (5 min pending)':<46} {registration_s * 1000:9.0f} ms")
    print(f"  {'bare moto DynamoDB PutItem':<46} {put_s * 1000:9.2f} ms")
    print(f"  {'ratio registration / PutItem':<46} {registration_s / put_s:9.0f} x")
    print(f"  aim: registration under 2 s wall -> {'met' if registration_s < 2 else 'NOT met'}")

    rng = random.Random(7)  # noqa: S311 - a reproducible simulation
    pendings = [max(0.0, rng.gauss(300, 60)) for _ in range(SAMPLES)]
    ours = [backoff(p, rng) for p in pendings]
    edge = [fixed(p) for p in pendings]
    print()
    print(f"Poll schedule, pending ~ Normal(300 s, 60 s), {SAMPLES} samples")
    print(f"  {'schedule':<42} {'mean polls':>10} {'p95 notice (s)':>15}")
    print(
        f"  {'template: wait 210, 5*2^n cap 30, FULL':<42} "
        f"{statistics.fmean(p for p, _ in ours):10.1f} {p95([late for _, late in ours]):15.1f}"
    )
    print(
        f"  {'edge setup script: every 5 s, no wait':<42} "
        f"{statistics.fmean(p for p, _ in edge):10.1f} {p95([late for _, late in edge]):15.1f}"
    )


if __name__ == "__main__":
    main()
