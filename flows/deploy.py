"""`b12audit schedule` and `b12audit serve`: the audit as a scheduled Prefect deployment.

`schedule` registers the flow `scheduled-audit` on a Prefect server as deployment
`scheduled-audit/<name>`, with a cron schedule and the drop folder as parameters.
`serve` reads what is registered there and runs its scheduled and manually triggered runs
in this machine's processes, with exactly the registered schedules and parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.types.entrypoint import EntrypointType
from pydantic import ValidationError

from flows.scheduled import scheduled_audit

FLOW_NAME = "scheduled-audit"
DESCRIPTION = "Monthly B12 audit of the drop folder's extracts (b12audit schedule)."
# A deployment name goes into shell commands and URLs: keep it to safe characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class DeploymentError(Exception):
    """The deployment cannot be registered or served; the message says why and what to do."""


def require_server() -> str:
    """The configured API URL of a running Prefect server.

    An ephemeral (temporary) server would forget the deployment when the command exits.
    """
    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise DeploymentError(
            "PREFECT_API_URL is not set: start a server with `prefect server start`, then"
            " `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    try:
        response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=10)
    except httpx.HTTPError as exc:
        raise DeploymentError(
            f"no Prefect server answers at {api_url} ({type(exc).__name__});"
            " start one with `prefect server start`"
        ) from None
    if response.status_code != 200:
        raise DeploymentError(f"the Prefect server at {api_url} is not healthy")
    return api_url


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise DeploymentError(
            f"deployment name {name!r}: use letters, digits, '.', '_' and '-' only"
        )
    return name


def cron_schedule(cron: str, timezone: str) -> CronSchedule:
    """The schedule, validated as the server would, with the first problem as the message."""
    try:
        return CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise DeploymentError(f"schedule: {problem}") from None


def deployment_parameters(
    drop_dir: Path, out_dir: Path, config_path: Path | None, input_format: str | None
) -> dict[str, str | None]:
    """The flow's parameters, with absolute paths: runs do not start in the caller's folder."""
    return {
        "drop_dir": str(drop_dir.resolve()),
        "out_dir": str(out_dir.resolve()),
        "config_path": str(config_path.resolve()) if config_path else None,
        "input_format": input_format,
    }


def register(name: str, parameters: dict[str, str | None], schedule: CronSchedule) -> UUID:
    """Creates or updates deployment `scheduled-audit/<name>`; returns its id."""
    deployment = scheduled_audit.to_deployment(
        name=check_name(name),
        schedules=[DeploymentScheduleCreate(schedule=schedule, active=True)],
        parameters=parameters,
        description=DESCRIPTION,
        tags=["b12audit"],
        # A module path, not a file path relative to the current folder: whoever runs
        # the deployment (serve, or a worker) imports it from the installed package.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return deployment.apply()


def registered(names: list[str]) -> list[DeploymentResponse]:
    """The named deployments of `scheduled-audit` (all of them when no name is given)."""
    with get_client(sync_client=True) as client:
        if not names:
            found = client.read_deployments(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME]))
            )
            if not found:
                raise DeploymentError(
                    f"no {FLOW_NAME} deployment is registered; run `b12audit schedule` first"
                )
            return sorted(found, key=lambda d: d.name)
        return [_read_one(client, check_name(name)) for name in names]


def _read_one(client, name: str) -> DeploymentResponse:
    try:
        return client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
    except ObjectNotFound:
        raise DeploymentError(
            f"deployment {FLOW_NAME}/{name} is not registered; run"
            f" `b12audit schedule DROP_DIR --name {name}` first"
        ) from None


def serve(deployments: list[DeploymentResponse]) -> None:
    """Runs the deployments' scheduled and triggered runs until interrupted (Ctrl-C)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(deployments))


async def _serve(deployments: list[DeploymentResponse]) -> None:
    # One run at a time: runs of one output folder must not race for its database.
    # Schedules stay active when serve stops (Prefect would pause them): stopping serve
    # must not change the registration; runs due meanwhile wait as Late until it returns.
    runner = Runner(name="b12audit-serve", limit=1, pause_on_shutdown=False)
    for deployment in deployments:
        await runner.aadd_flow(scheduled_audit, **_as_registered(deployment))
    await runner.start()


def _as_registered(deployment: DeploymentResponse) -> dict[str, object]:
    """What the runner re-applies to the server: the registered values, unchanged."""
    return {
        "name": deployment.name,
        "schedules": [
            DeploymentScheduleCreate(
                schedule=s.schedule,
                active=s.active,
                max_scheduled_runs=s.max_scheduled_runs,
                parameters=s.parameters,
                slug=s.slug,
            )
            for s in deployment.schedules
        ],
        "paused": deployment.paused,
        "parameters": deployment.parameters,
        "description": deployment.description,
        "tags": deployment.tags,
        "concurrency_limit": deployment.concurrency_limit,
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }


def describe(deployment: DeploymentResponse) -> str:
    """One line per deployment for the console: its name, schedules and drop folder."""
    when = ", ".join(
        f"{s.schedule.cron} {s.schedule.timezone}" if isinstance(s.schedule, CronSchedule) else "?"
        for s in deployment.schedules
    )
    state = " (paused)" if deployment.paused else ""
    return (
        f"{FLOW_NAME}/{deployment.name}{state}: {when or 'no schedule'};"
        f" drop folder {deployment.parameters.get('drop_dir')}"
    )


def next_steps(name: str, api_url: str) -> list[str]:
    ui_url = PREFECT_UI_URL.value() or api_url.removesuffix("/api")
    return [
        "runs execute while `b12audit serve` runs (in another terminal, same PREFECT_API_URL)",
        f"run now: prefect deployment run '{FLOW_NAME}/{name}'",
        f"watch:   {ui_url}/deployments",
    ]
