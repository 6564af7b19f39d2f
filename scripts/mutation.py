"""Mutation testing of the decisions and the adapters: would the fast tests notice a change?

Usage: python scripts/mutation.py [--jobs N] [--keep | --retest]

Runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``) on the functions in ``SCOPE``
against the unit and handler tests, then prints the survivors, a score per module and, last,
exactly one line: ``mutation: <killed>/<total> killed (<score>%)``. Exits 1 below
``THRESHOLD`` percent or when mutmut itself fails. A mutant counts as killed when a test
failed or timed out with it; survivors, suspicious results and mutants no test reaches do not.

Every run starts from a fresh copy (``mutants/`` is deleted first) unless ``--keep`` is given,
so the score never mixes results of older code or older tests. A line whose every mutant is
equivalent (no behaviour tells it from the original) carries mutmut's ``# pragma: no mutate``
with the reason. An equivalent mutant on a line that has others tests do tell apart is left
to survive (the pragma would drop them all from the score); the threshold allows for them.

``--retest`` tests again, with today's tests, only the mutants the last run did not detect, and
prints the score of the whole scope: what a full run would print when tests were only added
since (a mutant a test killed stays killed while that test exists). It refuses when the code
under mutation differs from the commit the last run measured, or when a line of the tests that
run had was changed or removed since (then only a full run says what the tests detect).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
MUTMUT = Path(sys.executable).with_name("mutmut")

# The functions whose mutants are scored (mutant-name patterns). The logic, the FleetWise
# adapter, the member accounts' roles, the wiring, the time budget, the run names, the attempt
# counts and the data layer whole; of the handlers, the code that decides (each handler's
# ``handle`` and its helpers). Out of scope, and why:
# - each handler's ``lambda_handler``: a Powertools decorator around one call of ``handle``
#   (what the rehearsal runs, end to end);
# - ``deploy_spec.respond``: the HTTP PUT of the custom resource's answer (I/O, no decision);
# - ``drift_check.handle`` and ``observe_all``: the tick's wiring (the scan, the hand-out, the
#   sweep's loop, the parallel observations), driven whole by the handler tests and the
#   rehearsal; its decisions are ``check_items``, ``start_for``, ``in_time`` and the rest;
# - the top-level plumbing (``settings``, ``clock``, ``errors``, ``observability``) and the
#   PynamoDB models' binding (``dal/models.py``): read, not decided, and held by the contract
#   tests (metric names, the template's variables).
SCOPE = (
    "fleetwise_reconciler.logic.*",
    "fleetwise_reconciler.fleetwise.*",
    "fleetwise_reconciler.member.*",
    "fleetwise_reconciler.wiring.*",
    "fleetwise_reconciler.budget.*",
    "fleetwise_reconciler.workflow.*",
    "fleetwise_reconciler.models.attempts.*",
    "fleetwise_reconciler.dal.repository.*",
    "fleetwise_reconciler.handlers.acquire.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.observe.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.observe.x_in_time__mutmut_*",
    "fleetwise_reconciler.handlers.observe.x__result__mutmut_*",
    "fleetwise_reconciler.handlers.register.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.poll.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.poll.x__result__mutmut_*",
    "fleetwise_reconciler.handlers.record.x_outcome_of__mutmut_*",
    "fleetwise_reconciler.handlers.record.x__metrics__mutmut_*",
    "fleetwise_reconciler.handlers.record.x_attempts_after__mutmut_*",
    "fleetwise_reconciler.handlers.record.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.record.x__release_for_good__mutmut_*",
    "fleetwise_reconciler.handlers.record.x__again__mutmut_*",
    "fleetwise_reconciler.handlers.execution_failed.x__execution_input__mutmut_*",
    "fleetwise_reconciler.handlers.execution_failed.x__what_it_reconciled__mutmut_*",
    "fleetwise_reconciler.handlers.execution_failed.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.stream_trigger.x_execution_input__mutmut_*",
    "fleetwise_reconciler.handlers.stream_trigger.x_start__mutmut_*",
    "fleetwise_reconciler.handlers.stream_trigger.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.deploy_spec.x_spec_item__mutmut_*",
    "fleetwise_reconciler.handlers.deploy_spec.x__changed__mutmut_*",
    "fleetwise_reconciler.handlers.deploy_spec.x_apply__mutmut_*",
    "fleetwise_reconciler.handlers.deploy_spec.x_handle__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_metrics_of__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_start_run__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x__code__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_start_for__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_in_time__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x__out_of_time__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_unobserved__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_check_items__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_split__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_hand_out__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_tick_moment__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_batch_of__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_batch_event__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x__exactly_json__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x__account__mutmut_*",
    "fleetwise_reconciler.handlers.drift_check.x_finish__mutmut_*",
)
THRESHOLD = 95.0

# mutmut's exit codes of a mutant's test run (as mutmut.stats.status_by_exit_code reads them).
STATUS: dict[int | None, str] = {
    1: "killed",
    3: "killed",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    0: "survived",
    5: "no tests",
    33: "no tests",
    None: "not checked",
}
DETECTED = frozenset({"killed", "timeout"})


def in_scope(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SCOPE)


def module_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


def results() -> dict[str, int | None]:
    """Every scoped mutant's exit code, from mutmut's meta files."""
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: code for name, code in codes.items() if in_scope(name)})
    return found


def status(code: int | None) -> str:
    return STATUS.get(code, f"suspicious (exit code {code})")


def measured_commit() -> str | None:
    """The commit the last full run measured (mutmut records it with its test statistics)."""
    stats = MUTANTS / "mutmut-stats.json"
    if not stats.exists():
        return None
    commit = json.loads(stats.read_text()).get("git_commit")
    return str(commit) if commit else None


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - git with fixed arguments
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


# Beside the handler tests but no part of them: the result-shape ledger, which they write only
# when the result recorder plugin is on (make result-shapes, .ci/run) and which only the
# contract tests read; mutmut's runs neither load the plugin nor read the ledger.
NOT_TESTS = ("tests/handlers/result_shapes.json",)


def tests_mutmut_runs() -> list[str]:
    """The test paths mutmut runs (pyproject's selection) and the top-level test support, as
    git pathspecs (``NOT_TESTS`` left out)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    selection = [str(path) for path in config["pytest_add_cli_args_test_selection"]]
    support = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("*.py"))
    return selection + support + [f":(exclude){path}" for path in NOT_TESTS]


def retest_refusal() -> str | None:
    """Why the last run's results cannot be carried over to today's tree, or None."""
    commit = measured_commit()
    if commit is None:
        return "no earlier run to carry over (mutants/ has no results): run without --retest"
    source = _git("diff", "--quiet", commit, "--", "src/fleetwise_reconciler")
    if source.returncode != 0:
        return (
            f"the code under mutation changed since the run of {commit[:12]} "
            "(or that commit is unknown here): run without --retest"
        )
    # Tests only added: no line deleted from what mutmut runs (its test selection, and the
    # conftest and support modules beside them; an edited line is a deletion and an
    # addition), so every test that killed a mutant is still there as it was.
    tests = _git("diff", "--numstat", commit, "--", *tests_mutmut_runs())
    edited = [
        line.split("\t")[-1]
        for line in tests.stdout.splitlines()
        if line.split("\t")[1] not in ("0", "-")
    ]
    if tests.returncode != 0 or edited:
        return (
            f"lines of the tests the run of {commit[:12]} used were changed or removed since, "
            f"so its kills may not hold ({', '.join(edited) or tests.stderr.strip()}): "
            "run without --retest"
        )
    return None


def mutmut_run(names: Sequence[str], jobs: int) -> int:
    """mutmut's ``run`` of ``names`` (patterns), its output in ``mutants/run.log``."""
    MUTANTS.mkdir(exist_ok=True)
    with (MUTANTS / "run.log").open("w") as out:
        return subprocess.run(  # noqa: S603 - our own venv's mutmut, fixed arguments
            [str(MUTMUT), "run", "--max-children", str(jobs), *names],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--keep", action="store_true", help="reuse mutants/ (faster, staler)")
    reuse.add_argument(
        "--retest", action="store_true", help="test only the last run's undetected mutants again"
    )
    args = parser.parse_args()
    log = MUTANTS / "run.log"
    names: Sequence[str] = SCOPE
    if args.retest:
        refusal = retest_refusal()
        if refusal:
            print(refusal)
            return 2
        names = sorted(n for n, code in results().items() if status(code) not in DETECTED)
        print(f"testing again the {len(names)} mutants the run of {measured_commit()} missed")
    elif not args.keep:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    started = time.monotonic()
    returncode = mutmut_run(names, args.jobs) if names else 0
    seconds = time.monotonic() - started
    if returncode != 0:
        print(f"mutmut failed (exit code {returncode}); its output is in {log}")
        return 1

    codes = results()
    if not codes:
        print(f"no mutant in scope was tested; mutmut's output is in {log}")
        return 1
    killed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for name, code in sorted(codes.items()):
        total[module_of(name)] += 1
        if status(code) in DETECTED:
            killed[module_of(name)] += 1
        else:
            print(f"{status(code)}: {name}")
    print(f"run time: {seconds:.0f} s, {args.jobs} at once; `mutmut show NAME` shows a mutant")
    for module in sorted(total):
        score = 100 * killed[module] / total[module]
        print(f"  {module}: {killed[module]}/{total[module]} ({score:.1f}%)")
    all_killed, everything = sum(killed.values()), sum(total.values())
    score = 100 * all_killed / everything
    print(f"mutation: {all_killed}/{everything} killed ({score:.1f}%)")
    return 0 if score >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
