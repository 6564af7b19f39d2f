"""The rehearsal's own boto3 clients (driver, deployer, stream delivery), from one session.

A client made through boto3's default session loads its service model again in every
rehearsal (moto's mock resets that session), which is a good part of a rehearsal's wall
time. One process-wide session keeps the loaded models; clients are still made lazily,
inside the running mock, so none of them can reach AWS. (The handlers make their own clients
through ``handler_session``: moto_patches makes it boto3's default session and PynamoDB's.)
"""

from __future__ import annotations

import threading
from typing import Any

import boto3

_sessions: dict[str, boto3.session.Session] = {}
_lock = threading.Lock()


def _session(name: str) -> boto3.session.Session:
    with _lock:
        if name not in _sessions:
            session = boto3.session.Session()
            # A session is not meant to make clients from two threads at once (a test thread
            # and an execution's may); making them one at a time is cheap once models are
            # loaded.
            create = session._session.create_client
            creating = threading.RLock()

            def create_client(*args: Any, **kwargs: Any) -> Any:
                with creating:
                    return create(*args, **kwargs)

            session._session.create_client = create_client
            _sessions[name] = session
        return _sessions[name]


def client(service: str, region: str, *, account: str | None = None) -> Any:
    """A new client of ``service`` in ``region`` from the rehearsal's session; with
    ``account``, every request names that account to moto (its ``x-moto-account-id``
    header), as a deployment into that account would act there."""
    made = _session("driver").client(service, region_name=region)
    if account is not None:

        def name_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("request-created", name_account)
    return made


def handler_session() -> boto3.session.Session:
    """The session the handlers' SDK clients are made from in the rehearsal (boto3's default
    session and PynamoDB's), kept across rehearsals for the same reason. The invoker runs one
    handler at a time; the driver's session is another one."""
    return _session("handlers")
