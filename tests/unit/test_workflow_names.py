"""The names of runs made from keys Step Functions cannot take as they are
(``workflow.hashed_name``)."""

from __future__ import annotations

import hashlib

from fleetwise_reconciler import workflow


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[: workflow.DIGEST]


def test_a_key_is_named_by_its_readable_part_and_a_digest_of_the_whole() -> None:
    # GIVEN a key with characters a name cannot hold, starting with a capital letter
    key = "Xa b/c"
    # WHEN it is named with and without a suffix
    # THEN the readable part is kept (runs of other characters as one dash), then the digest
    assert workflow.hashed_name("p-", key) == f"p-Xa-b-c-{_digest(key)}"
    assert workflow.hashed_name("p-", key, "-s") == f"p-Xa-b-c-{_digest(key)}-s"


def test_a_key_holding_a_lone_surrogate_is_named_without_error() -> None:
    # GIVEN a key no strict UTF-8 encoder accepts (a lone surrogate, as JSON may carry)
    key = "a\ud800"
    # WHEN it is named
    # THEN its digest is of its surrogate-passing encoding
    assert workflow.hashed_name("p-", key) == f"p-a-{_digest(key)}"


def test_a_prefix_that_leaves_no_room_gives_the_prefix_and_the_digest_only() -> None:
    # GIVEN a prefix so long that no character of the key fits beside the digest
    prefix = "p" * (workflow.NAME_MAX - workflow.DIGEST - 1)
    # WHEN a key is named
    name = workflow.hashed_name(prefix, "abc")
    # THEN the name is the prefix and the digest
    assert name == f"{prefix}{_digest('abc')}"
    assert len(name) == workflow.NAME_MAX - 1
