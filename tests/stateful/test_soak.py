"""``make soak``'s own promise: it always ends with its line, whatever happens to a worker."""

from __future__ import annotations

import os

from fleetwise_rehearsal.properties import soak


def _dies(args: tuple[int, int]) -> soak.Share:
    os._exit(9)  # as the out-of-memory killer or a hard exit would end it: no result sent


def _counts(args: tuple[int, int]) -> soak.Share:
    examples, steps = args
    return soak.Share(examples, examples * steps, None)


def test_every_share_comes_back_from_its_own_process() -> None:
    assert soak.run_shares([3, 2], 4, worker=_counts) == [
        soak.Share(3, 12, None),
        soak.Share(2, 8, None),
    ]


def test_a_worker_that_dies_is_a_failed_share_not_a_wait_without_end() -> None:
    done = soak.run_shares([1], 4, worker=_dies)

    assert len(done) == 1
    assert (done[0].examples, done[0].steps) == (0, 0)
    assert done[0].failure is not None
    assert done[0].failure.startswith("a soak worker process died:")


def test_an_exit_inside_the_rehearsal_is_reported_as_a_violation(monkeypatch) -> None:
    def exits(*_args: object, **_kwargs: object) -> None:
        raise SystemExit(3)

    monkeypatch.setattr("hypothesis.stateful.run_state_machine_as_test", exits)

    share = soak.run_share(1)

    assert share.failure is not None
    assert "SystemExit: 3" in share.failure
