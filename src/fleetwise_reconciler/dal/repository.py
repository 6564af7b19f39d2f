"""Data access for the spec and status tables (docs/workflow.md, "Tables").

Items cross this boundary as plain Python dicts: the repositories hide PynamoDB and the
DynamoDB type system. Every write to the status table is a conditional write, so the lease
protocol holds without read-modify-write races:

- ``acquire_lease`` takes the lease when it is absent, expired or already ours; otherwise it
  marks the holder's lease ``pending`` so the holder loops instead of finishing (a newer spec
  is never dropped).
- ``put_status`` writes the STATUS item in one transaction with a check that the caller still
  holds the lease: a run whose lease was taken over cannot overwrite a newer run's status.
- ``release_lease`` deletes the lease only if no newer request is pending; otherwise it clears
  the flag and tells the caller to loop.
- ``renew_lease`` and ``count_attempt`` are the lease checks of the steps that act: each is
  conditional on the caller still holding the lease, so a run that lost it stops there.

Why one module: the lease, the attempt counts and the status are one protocol over one table,
written together in the same transactions (each write checks the lease item beside it); split
apart, every module would need the others' conditions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from fleetwise_reconciler import budget
from fleetwise_reconciler.clock import isoformat
from fleetwise_reconciler.dal.models import (
    _RAW_MAP,
    LEASE_KIND,
    STATUS_KIND,
    WATCH_KIND,
    StatusItem,
    lease_model,
    spec_model,
    status_model,
    to_storable,
)
from fleetwise_reconciler.errors import LeaseLost
from fleetwise_reconciler.models.attempts import Attempts

__all__ = [
    "Attempts",
    "LeaseContention",
    "LeaseLost",
    "LeaseResult",
    "SpecRepository",
    "StatusRepository",
]

_CONDITION_FAILED = "ConditionalCheckFailedException"
_ACQUIRE_ROUNDS = 3
_TRANSACTION_ATTEMPTS = budget.TRANSACTION_ATTEMPTS


class LeaseContention(RuntimeError):
    """The lease changed hands on every round of ``acquire_lease``: something is very wrong."""


@dataclass(frozen=True)
class LeaseResult:
    acquired: bool
    holder: str
    """The execution that holds the lease after the call."""
    expires_at: int
    """Epoch seconds."""
    marked_pending: bool
    """True when another run holds the lease and we set its ``pending`` flag."""


def _condition_failed(error: PutError | UpdateError | DeleteError) -> bool:
    return error.cause_response_code == _CONDITION_FAILED


def _cancelled_by_condition(error: TransactWriteError, index: int) -> bool:
    """Whether the transaction was cancelled because its item ``index`` failed its condition."""
    reasons = error.cancellation_reasons
    if index >= len(reasons):
        return False
    reason = reasons[index]
    return reason is not None and reason.code == "ConditionalCheckFailed"


def _token(request: str | None, kind: str, spec_hash: str) -> str | None:
    """A ClientRequestToken for one counting write of one Lambda request (at most 36
    characters): DynamoDB answers a repeated TransactWriteItems with the same token and
    request, within ten minutes, as it answered the first, instead of applying it twice."""
    if request is None:
        return None
    return hashlib.sha256(f"{request}|{kind}|{spec_hash}".encode()).hexdigest()[:32]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _aware(moment: datetime) -> datetime:
    # The TTL attribute refuses naive datetimes; the clock's are aware, a test's may not be.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class SpecRepository:
    """The spec table: the desired state, one item per target, as the operator wrote it."""

    def __init__(self, table_name: str, region: str | None = None, host: str | None = None):
        self._model = spec_model(table_name, region, host)

    def get(self, target: str) -> dict[str, Any] | None:
        """Every attribute of the item (unknown ones included), or None; a consistent read."""
        try:
            item = self._model.get(target, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return {"target": item.target, **item.extra}

    def put(self, item: Mapping[str, Any]) -> None:
        """Replace the item with exactly these attributes (``None`` values are left out)."""
        attributes = dict(item)
        target = attributes.pop("target", None)
        if not isinstance(target, str) or not target:
            raise ValueError("a spec item needs a non-empty string 'target'")
        record = self._model(target)
        record.extra = attributes
        record.save()

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every spec item (the drift schedule's worklist)."""
        for item in self._model.scan():
            yield {"target": item.target, **item.extra}

    def get_many(self, targets: Iterable[str]) -> list[dict[str, Any]]:
        """The items of ``targets`` that exist, in the order asked (consistent reads; PynamoDB
        asks BatchGetItem for 100 keys at a time and again for any it left unprocessed)."""
        wanted = list(dict.fromkeys(targets))
        found = {
            item.target: {"target": item.target, **item.extra}
            for item in self._model.batch_get(wanted, consistent_read=True)
        }
        return [found[target] for target in wanted if target in found]


class StatusRepository:
    """The status table: each target's STATUS item and the LEASE that guards it."""

    def __init__(self, table_name: str, region: str | None = None, host: str | None = None):
        self._lease = lease_model(table_name, region, host)
        self._status = status_model(table_name, region, host)
        self._region = region
        self._host = host
        self._connection: Connection | None = None

    def connection(self) -> Connection:
        """The transactions' connection, with the budget's timeouts and attempts (built on
        first use, like the models' own; a race builds two, harmlessly)."""
        if self._connection is None:
            self._connection = Connection(
                region=self._region,
                host=self._host,
                connect_timeout_seconds=budget.DYNAMODB.connect_timeout,
                read_timeout_seconds=budget.DYNAMODB.read_timeout,
                max_retry_attempts=budget.DYNAMODB.attempts - 1,
            )
        return self._connection

    def _commit(self, build: Callable[[TransactWrite], None], token: str | None = None) -> None:
        """Run the transaction ``build`` describes; a TransactionConflict (another transaction
        on the same items at that instant) is retried, up to ``budget.TRANSACTION_ATTEMPTS``
        attempts in all, since DynamoDB asks the caller to retry it and the competing write is
        over by then."""
        connection = self.connection()
        # Equivalent mutant (a longer range): the last attempt raises before the loop ends.
        for attempt in range(1, _TRANSACTION_ATTEMPTS + 1):  # pragma: no mutate
            try:
                with TransactWrite(
                    connection=connection, client_request_token=token
                ) as transaction:
                    build(transaction)
            except TransactWriteError as error:
                conflicted = any(
                    reason is not None and reason.code == "TransactionConflict"
                    for reason in error.cancellation_reasons
                )
                if not conflicted or attempt == _TRANSACTION_ATTEMPTS:
                    raise
            else:
                return

    # -- the lease --------------------------------------------------------------------------

    def acquire_lease(
        self, target: str, holder: str, *, now: datetime, lease_seconds: int
    ) -> LeaseResult:
        """Take the lease, or mark the current holder's lease ``pending``.

        Taken when absent, expired (``expiresAt`` < now) or already ours (a retried Acquire is
        re-entrant). Taking it clears ``pending``: the run that takes it has not observed yet,
        so it will see the newest spec anyway. When another run holds it, ``pending`` is set
        on that lease if it is still unexpired; when that condition fails too (the lease was
        released or expired meanwhile) the whole step is tried again, up to three rounds,
        then ``LeaseContention``.

        The mark's condition is "held by another run, unexpired" rather than "held by the run
        we saw": the holder is not read first (no read-modify-write), and marking whichever
        run holds the lease at that instant is what matters, since that run has the job of
        observing again. The update returns the lease, so the result names its holder.
        """
        lease_cls = self._lease
        now = _aware(now)
        expires = now + timedelta(seconds=lease_seconds)
        for _ in range(_ACQUIRE_ROUNDS):
            lease = lease_cls(
                target,
                # Equivalent mutants: the model's range key defaults to this kind.
                LEASE_KIND,  # pragma: no mutate
                holder=holder,
                acquired_at=isoformat(now),
                expires_at=expires,
                pending=False,
            )
            try:
                lease.save(
                    condition=lease_cls.target.does_not_exist()
                    | (lease_cls.expires_at < now)
                    | (lease_cls.holder == holder)
                )
            except PutError as error:
                if not _condition_failed(error):
                    raise
            else:
                return LeaseResult(True, holder, _epoch(expires), marked_pending=False)

            # Equivalent mutants: the model's range key defaults to this kind.
            held = lease_cls(target, LEASE_KIND)  # pragma: no mutate
            try:
                held.update(
                    actions=[lease_cls.pending.set(True)],
                    condition=lease_cls.holder.exists()
                    & (lease_cls.holder != holder)
                    & (lease_cls.expires_at >= now),
                )
            except UpdateError as error:
                if not _condition_failed(error):
                    raise
                continue
            return LeaseResult(False, held.holder, _epoch(held.expires_at), marked_pending=True)
        raise LeaseContention(f"the lease of {target} changed hands {_ACQUIRE_ROUNDS} times")

    def renew_lease(
        self,
        target: str,
        holder: str,
        *,
        now: datetime,
        lease_seconds: int,
        spec_hash: str | None = None,
    ) -> None:
        """Check that ``holder`` still holds the lease and push its expiry to
        ``now + lease_seconds`` (with ``spec_hash``: also note the spec version the holder
        works on). Raises ``LeaseLost``, changing nothing, when the lease is not ours."""
        lease_cls = self._lease
        actions: list[Action] = [
            lease_cls.expires_at.set(_aware(now) + timedelta(seconds=lease_seconds))
        ]
        if spec_hash is not None:
            actions.append(lease_cls.spec_hash.set(spec_hash))
        try:
            # Equivalent mutants: the model's range key defaults to this kind.
            lease_cls(target, LEASE_KIND).update(  # pragma: no mutate
                actions=actions,
                condition=lease_cls.holder == holder,
            )
        except UpdateError as error:
            if _condition_failed(error):
                raise LeaseLost(target, holder, "renew") from error
            raise

    def release_lease(self, target: str, holder: str) -> bool:
        """Release the lease at the end of a run.

        True: released. False: a newer request arrived while we acted (``pending`` was set);
        the flag is cleared, the lease kept, and the caller loops (observe again). Raises
        ``LeaseLost`` when the lease is no longer ours (taken over after expiring, or gone).
        """
        lease_cls = self._lease
        try:
            # Equivalent mutants: the model's range key defaults to this kind.
            lease_cls(target, LEASE_KIND).delete(  # pragma: no mutate
                condition=(lease_cls.holder == holder)
                & (lease_cls.pending.does_not_exist() | (lease_cls.pending == False))  # noqa: E712 - a DynamoDB condition, not a comparison
            )
        except DeleteError as error:
            if not _condition_failed(error):
                raise
        else:
            return True
        try:
            # Equivalent mutants: the model's range key defaults to this kind.
            lease_cls(target, LEASE_KIND).update(  # pragma: no mutate
                actions=[lease_cls.pending.set(False)],
                condition=lease_cls.holder == holder,
            )
        except UpdateError as error:
            if _condition_failed(error):
                raise LeaseLost(target, holder, "release") from error
            raise
        return False

    def release_lease_if_holder(self, target: str, holder: str) -> bool:
        """Delete the lease if ``holder`` holds it, pending or not (after a failed execution,
        nothing will loop; the next trigger or schedule tick picks the newer spec up)."""
        lease_cls = self._lease
        try:
            # Equivalent mutants: the model's range key defaults to this kind.
            lease_cls(target, LEASE_KIND).delete(  # pragma: no mutate
                condition=lease_cls.holder == holder
            )
        except DeleteError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def get_lease(self, target: str) -> dict[str, Any] | None:
        """``{holder, acquiredAt, expiresAt (epoch seconds), pending}`` or None."""
        try:
            lease = self._lease.get(target, LEASE_KIND, consistent_read=True)
        except self._lease.DoesNotExist:
            return None
        return {
            "holder": lease.holder,
            "acquiredAt": lease.acquired_at,
            "expiresAt": _epoch(lease.expires_at),
            "pending": bool(lease.pending),
            "specHash": lease.spec_hash,
        }

    # -- the attempt counts ---------------------------------------------------------------

    def count_attempt(
        self,
        target: str,
        holder: str,
        *,
        spec_hash: str,
        limit: int,
        token: str | None = None,
    ) -> Attempts:
        """Count one RegisterAccount call of ``spec_hash`` before it is made, and say whether
        it may be made: ``Attempts.allowed`` is False, and nothing is counted, once the version
        has ``limit`` calls that may have acted or ``limit`` refused ones.

        The STATUS item's ``attempts`` is ``{specHash, count, refused}``: ``count`` calls that
        may have acted (answered, failed in an unknown way, or never answered) and ``refused``
        calls the service refused without acting. Each call adds one to ``count`` in place
        (``SET count = count + 1``, conditional on the version and the bound), never rewrites
        it from what the caller carries, so a step that Step Functions retries with the same
        input counts each call it makes. The write is one transaction with a check that
        ``holder`` holds the lease (``LeaseLost`` otherwise, counting nothing); ``token`` (the
        Lambda request's) makes an SDK retry of that transaction count once. The count of a
        version is durable from the moment the call may reach the service: a run that dies,
        or one that takes the target over, continues it instead of restarting it.
        """
        lease_cls = self._lease
        attempts = Path("attempts")

        def lease_check(transaction: TransactWrite) -> None:
            transaction.condition_check(
                lease_cls, target, LEASE_KIND, condition=lease_cls.holder == holder
            )

        def one_more(transaction: TransactWrite) -> None:
            lease_check(transaction)
            transaction.update(
                # Equivalent mutants: the model's range key defaults to this kind.
                self._status(target, STATUS_KIND),  # pragma: no mutate
                actions=[attempts["count"].set(attempts["count"] + 1)],
                condition=(attempts["specHash"] == spec_hash)
                & (attempts["count"] < limit)
                & (attempts["refused"].does_not_exist() | (attempts["refused"] < limit)),
            )

        def first(transaction: TransactWrite) -> None:
            lease_check(transaction)
            counts = {"specHash": spec_hash, "count": 1, "refused": 0}
            transaction.update(
                # Equivalent mutants: the model's range key defaults to this kind.
                self._status(target, STATUS_KIND),  # pragma: no mutate
                actions=[attempts.set(Value({"M": _RAW_MAP.serialize(to_storable(counts))}))],
                condition=attempts.does_not_exist() | (attempts["specHash"] != spec_hash),
            )

        for build, kind in ((one_more, "count"), (first, "first")):
            try:
                self._commit(build, token=_token(token, kind, spec_hash))
            except TransactWriteError as error:
                if _cancelled_by_condition(error, 0):
                    raise LeaseLost(target, holder, "attempt count") from error
                if not _cancelled_by_condition(error, 1):
                    raise
            else:
                return self.attempts(target, spec_hash)
        # The version's own counts stand at the bound: nothing was counted.
        return replace(self.attempts(target, spec_hash), allowed=False)

    def count_refusal(
        self, target: str, holder: str, *, spec_hash: str, token: str | None = None
    ) -> None:
        """Move the call ``count_attempt`` counted to ``refused``: the service answered that it
        did not act (throttled, another operation in flight, validation, access denied). One
        transaction with the lease check (``LeaseLost``)."""
        lease_cls = self._lease
        attempts = Path("attempts")

        def build(transaction: TransactWrite) -> None:
            transaction.condition_check(
                lease_cls, target, LEASE_KIND, condition=lease_cls.holder == holder
            )
            transaction.update(
                # Equivalent mutants: the model's range key defaults to this kind.
                self._status(target, STATUS_KIND),  # pragma: no mutate
                actions=[
                    attempts["count"].set(attempts["count"] - 1),
                    attempts["refused"].set((attempts["refused"] | 0) + 1),
                ],
                condition=(attempts["specHash"] == spec_hash) & (attempts["count"] > 0),
            )

        try:
            self._commit(build, token=_token(token, "refused", spec_hash))
        except TransactWriteError as error:
            if _cancelled_by_condition(error, 0):
                raise LeaseLost(target, holder, "attempt count") from error
            # Nothing counted for this version to move (a count another run restarted).
            if not _cancelled_by_condition(error, 1):
                raise

    def attempts(self, target: str, spec_hash: str) -> Attempts:
        """The version's counts as the STATUS item holds them now (a consistent read)."""
        return Attempts.of(self.get_status(target), spec_hash)

    # -- the status -------------------------------------------------------------------------

    def get_status(self, target: str) -> dict[str, Any] | None:
        """The STATUS item's attributes without its keys, or None; a consistent read."""
        try:
            item = self._status.get(target, STATUS_KIND, consistent_read=True)
        except self._status.DoesNotExist:
            return None
        return dict(item.extra)

    def all_statuses_and_watches(
        self, segment: int = 0, segments: int = 1
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Every STATUS item's and every WATCH item's attributes without their keys, each by
        target: one strongly consistent Scan of the table (the drift check's tick reads each
        status and WATCH item once this way, for its own targets and its sweep of those whose
        spec item is gone). A Scan is billed by the size of the items it reads, LEASE items
        included, not per item.

        With ``segments`` above 1, only the items of ``segment`` (0 to ``segments`` - 1) of a
        parallel Scan: DynamoDB splits the table into that many disjoint segments, together
        every item (DynamoDB developer guide, "Scanning tables", Parallel scan)."""
        if not 0 <= segment < segments:
            raise ValueError(f"segment {segment} of {segments}")
        parallel = segments > 1
        found: dict[str, dict[str, dict[str, Any]]] = {STATUS_KIND: {}, WATCH_KIND: {}}
        for item in self._status.scan(
            self._status.kind.is_in(STATUS_KIND, WATCH_KIND),
            segment=segment if parallel else None,
            total_segments=segments if parallel else None,
            consistent_read=True,
        ):
            found[item.kind][item.target] = dict(item.extra)
        return found[STATUS_KIND], found[WATCH_KIND]

    def get_status_and_watch(
        self, target: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The STATUS item's attributes and the drift check's WATCH item's (each None when
        absent), from one consistent Query of the target's items of those two kinds (the sort
        key between ``STATUS`` and ``WATCH``: no LEASE). One request reads both, and a WATCH
        item (kept only while the target is in trouble) is read only when it exists; a Query
        is charged for the total size of the items it reads, rounded up to 4 KB (DynamoDB
        developer guide, "DynamoDB read and write operations"): one read unit for a target's
        status and WATCH item together, where a BatchGetItem rounds each item up on its own
        and must ask for a WATCH key that is there only while the target is in trouble."""
        status: dict[str, Any] | None = None
        watch: dict[str, Any] | None = None
        for item in self._status.query(
            target, self._status.kind.between(STATUS_KIND, WATCH_KIND), consistent_read=True
        ):
            if item.kind == STATUS_KIND:
                status = dict(item.extra)
            elif item.kind == WATCH_KIND:
                watch = dict(item.extra)
        return status, watch

    def statuses_and_watches_of(
        self, targets: Iterable[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The STATUS and WATCH items of ``targets`` that exist, each by target: one consistent
        Query per target (``get_status_and_watch``), in order."""
        statuses: dict[str, dict[str, Any]] = {}
        watches: dict[str, dict[str, Any]] = {}
        for target in dict.fromkeys(targets):
            status, watch = self.get_status_and_watch(target)
            if status is not None:
                statuses[target] = status
            if watch is not None:
                watches[target] = watch
        return statuses, watches

    def put_watch(self, target: str, watch: Mapping[str, Any]) -> None:
        """Replace the target's WATCH item (only the drift check writes it)."""
        item = self._status(target, WATCH_KIND)
        item.extra = {k: v for k, v in watch.items() if k not in ("target", "kind")}
        item.save()

    def delete_watch(self, target: str) -> None:
        self._status(target, WATCH_KIND).delete()

    def _status_item(self, target: str, status: Mapping[str, Any]) -> StatusItem:
        # Equivalent mutants: the model's range key defaults to this kind.
        item = self._status(target, STATUS_KIND)  # pragma: no mutate
        # The keys come from the arguments; a status dict that carries them echoes them.
        item.extra = {k: v for k, v in status.items() if k not in ("target", "kind")}
        return item

    def put_status(self, target: str, holder: str, status: Mapping[str, Any]) -> None:
        """Replace the STATUS item, in one transaction with a check that ``holder`` holds the
        lease. Raises ``LeaseLost`` (writing nothing) when it does not."""
        lease_cls, item = self._lease, self._status_item(target, status)

        def build(transaction: TransactWrite) -> None:
            transaction.condition_check(
                lease_cls, target, LEASE_KIND, condition=lease_cls.holder == holder
            )
            transaction.save(item)

        try:
            self._commit(build)
        except TransactWriteError as error:
            if _cancelled_by_condition(error, 0):
                raise LeaseLost(target, holder, "status write") from error
            raise

    def put_status_unleased(
        self, target: str, status: Mapping[str, Any], *, only_if_holder: str
    ) -> bool:
        """Record the outcome of an execution that failed, timed out or was aborted.

        The rule: write when that execution still holds the lease (expired or not: nobody took
        it over, so nobody wrote after it), or when there is no lease at all and the STATUS
        item is absent or was last written by that execution (``lastExecutionArn``). A lease
        held by another run, or a status written by another run, means a newer run owns the
        target: nothing is written. Returns whether the status was written. Each branch is
        one transaction, so a run that takes the lease meanwhile wins.
        """
        lease_cls, status_cls = self._lease, self._status
        item = self._status_item(target, status)

        def while_held(transaction: TransactWrite) -> None:
            transaction.condition_check(
                lease_cls, target, LEASE_KIND, condition=lease_cls.holder == only_if_holder
            )
            transaction.save(item)

        def when_orphaned(transaction: TransactWrite) -> None:
            transaction.condition_check(
                lease_cls, target, LEASE_KIND, condition=lease_cls.target.does_not_exist()
            )
            transaction.save(
                item,
                condition=status_cls.target.does_not_exist()
                | (Path("lastExecutionArn") == only_if_holder),
            )

        try:
            self._commit(while_held)
        except TransactWriteError as error:
            if not _cancelled_by_condition(error, 0):
                raise
        else:
            return True

        try:
            self._commit(when_orphaned)
        except TransactWriteError as error:
            if _cancelled_by_condition(error, 0) or _cancelled_by_condition(error, 1):
                return False
            raise
        return True
