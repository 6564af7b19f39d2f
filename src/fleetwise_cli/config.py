"""Which stack, in which Region, with which credentials: resolved as the AWS CLI and SAM do.

- The stack: ``--stack``; else ``stack_name`` of ``samconfig.toml``'s environment (``sam
  deploy``'s own setting), else ``fleetwise-reconciler``. Asking for an environment
  (``--config-env``) or a file (``--config-file``) makes the file required, as ``sam deploy
  --config-env prod`` requires it: without it the command stops instead of falling back on
  the default stack.
- The Region, first found: ``--region``; the samconfig environment's ``region`` (SAM reads it
  as the default of its own ``--region``); ``AWS_REGION``; ``AWS_DEFAULT_REGION``; the
  profile's ``region``. The AWS CLI v2 documents ``AWS_REGION`` as overriding both
  ``AWS_DEFAULT_REGION`` and the profile's setting
  (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html); botocore
  itself reads only ``AWS_DEFAULT_REGION``, hence the explicit step here.
- The profile: ``--profile``; the samconfig environment's ``profile``; ``AWS_PROFILE`` (read
  by botocore).

Endpoints are botocore's: ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` point every
client at another endpoint (a local stack), with nothing to configure here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ProfileNotFound

from fleetwise_cli.context import CliError, Where

DEFAULT_STACK = "fleetwise-reconciler"
SAMCONFIG = "samconfig.toml"
DEFAULT_ENV = "default"


@dataclass(frozen=True)
class SamConfig:
    """What one environment of a ``samconfig.toml`` says about the deployed stack."""

    path: Path
    env: str
    stack_name: str | None
    region: str | None
    profile: str | None


def read_samconfig(path: Path, env: str) -> SamConfig:
    """The environment ``env`` of the SAM configuration file ``path`` (which must exist)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: not valid TOML: {error}") from None
    environment = config.get(env)
    if not isinstance(environment, dict):
        known = sorted(k for k, v in config.items() if isinstance(v, dict))
        raise CliError(
            f"{path} has no environment {env!r} (--config-env); its environments: "
            f"{', '.join(known) or 'none'}"
        )

    def setting(name: str) -> str | None:
        # SAM reads a command's own section first, then the environment's global one.
        for command in ("deploy", "global"):
            section = environment.get(command)
            parameters = section.get("parameters") if isinstance(section, dict) else None
            value = parameters.get(name) if isinstance(parameters, dict) else None
            if isinstance(value, str) and value:
                return value
        return None

    return SamConfig(
        path=path,
        env=env,
        stack_name=setting("stack_name"),
        region=setting("region"),
        profile=setting("profile"),
    )


def samconfig_for(config_file: str | None, config_env: str | None) -> SamConfig | None:
    """The samconfig environment the command uses, or None when there is none to use.

    Named (``--config-file`` or ``--config-env``): the file must exist. Neither named: the
    current folder's ``samconfig.toml`` when there is one, its ``default`` environment."""
    asked = config_file is not None or config_env is not None
    path = Path(config_file or SAMCONFIG)
    env = config_env or DEFAULT_ENV
    if not path.is_file():
        if asked:
            flag = "--config-file" if config_file is not None else f"--config-env {env}"
            raise CliError(
                f"{flag}: no SAM configuration file at {path.resolve()}: run the command from "
                "the folder you deploy from, or name the file with --config-file FILE"
            )
        return None
    return read_samconfig(path, env)


def resolve(
    *,
    stack: str | None,
    region: str | None,
    profile: str | None,
    config: SamConfig | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Where, boto3.Session]:
    """The stack, Region and session a command works with (see the module's docstring)."""
    env = os.environ if environ is None else environ
    where = f"{config.path.name} [{config.env}]" if config is not None else ""
    if stack:
        stack_name, stack_source = stack, "--stack"
    elif config is not None and config.stack_name:
        stack_name, stack_source = config.stack_name, where
    else:
        stack_name, stack_source = DEFAULT_STACK, "default name"
    chosen_profile = profile or (config.profile if config is not None else None)
    if region:
        chosen_region, region_source = region, "--region"
    elif config is not None and config.region:
        chosen_region, region_source = config.region, where
    elif env.get("AWS_REGION"):
        chosen_region, region_source = env["AWS_REGION"], "AWS_REGION"
    else:
        chosen_region, region_source = None, ""
    try:
        session = boto3.Session(profile_name=chosen_profile, region_name=chosen_region)
    except ProfileNotFound as error:
        raise CliError(f"{error} (--profile, AWS_PROFILE or samconfig.toml's profile)") from None
    if chosen_region is None:
        chosen_region = session.region_name
        if chosen_region and env.get("AWS_DEFAULT_REGION") == chosen_region:
            region_source = "AWS_DEFAULT_REGION"
        elif chosen_region:
            region_source = f"profile {session.profile_name}"
        else:
            region_source = "none found"
    return (
        Where(
            stack=stack_name,
            stack_source=stack_source,
            region=chosen_region,
            region_source=region_source,
            profile=chosen_profile,
        ),
        session,
    )


def where_json(where: Where | None) -> dict[str, Any]:
    """The resolved stack and Region as the JSON of every command carries them."""
    if where is None:
        return {"stack": None, "region": None}
    return {"stack": where.stack, "region": where.region}
