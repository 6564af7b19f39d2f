"""AWS errors as messages an operator can act on (a missing permission says which one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from fleetwise_cli.context import CliError

PERMISSION_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
)
CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}
)


def code_of(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


def message_of(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or error)


def explain(error: ClientError, prefix: str, service: str) -> CliError:
    """``service`` is the IAM prefix of the client's service (``states`` for Step Functions):
    with the operation it names the permission a denied call lacked."""
    code = code_of(error)
    if code in PERMISSION_CODES:
        action = f"{service}:{error.operation_name}"
        return CliError(f"permission denied: {prefix} needs {action}: {message_of(error)}")
    if code in CREDENTIAL_CODES:
        return CliError(f"{prefix}: the AWS credentials were refused ({code}): {message_of(error)}")
    return CliError(f"{prefix}: {code}: {message_of(error)}")


@contextlib.contextmanager
def translated(prefix: str, service: str) -> Iterator[None]:
    """Turn the SDK's errors raised inside the block (calls to ``service``, an IAM prefix)
    into ``CliError``s that start with ``prefix``."""
    try:
        yield
    except ClientError as error:
        raise explain(error, prefix, service) from error
    except NoCredentialsError as error:
        raise CliError(
            "no AWS credentials found: configure them the usual way (aws configure, "
            "AWS_PROFILE, environment variables, an instance or SSO role)"
        ) from error
    except NoRegionError as error:
        raise CliError("no AWS Region: pass --region or set AWS_REGION") from error
    except EndpointConnectionError as error:
        raise CliError(f"{prefix}: cannot reach AWS: {error}") from error
    except BotoCoreError as error:
        raise CliError(f"{prefix}: {error}") from error
