"""Project commands, merged into ``kedro`` by Kedro: ``kedro run`` with short expected
errors, and ``kedro workspaces list|clean``.

Kedro imports this module for every ``kedro`` command in the project, so it imports
nothing heavy (no TensorFlow); the work is done by :mod:`bit_finetune.training.workspaces`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.session import KedroSession
from kedro.framework.startup import ProjectMetadata
from kedro.io import DataCatalog

from bit_finetune.catalog.training_workspace import WorkspaceDataset
from bit_finetune.core.files import human_size
from bit_finetune.errors import TRACEBACK_VARIABLE, Interrupted, expected, wants_traceback
from bit_finetune.training import workspaces as ws

ENV = click.option(
    "--env", "-e", default=None,
    help="Kedro configuration environment (default: the embedded default, digits).",
)
DATASET = click.option(
    "--dataset",
    default="training_workspace",
    show_default=True,
    help="The catalog entry of the workspaces' folder (e.g. transfer.training_workspace "
    "with --env transfer_demo).",
)


@click.group(name="bit_finetune")
def cli() -> None:
    """Commands of the bit-finetune project."""


def briefly(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command``, printing an expected error (:mod:`bit_finetune.errors`) as its message
    alone, unless the user asked for tracebacks; a bug keeps its traceback. An interrupted
    run prints its one line and exits with the signal's code (130, 143)."""

    @functools.wraps(command)
    def wrapped(**options: Any) -> Any:
        try:
            return command(**options)
        except Exception as error:
            found = expected(error)
            if found is None or wants_traceback():
                raise
            if isinstance(found, Interrupted):
                click.echo(str(found), err=True)
                raise SystemExit(found.exit_code) from None
            raise click.ClickException(
                f"{found}\n(set {TRACEBACK_VARIABLE}=1 for the full traceback)"
            ) from None

    return wrapped


# Kedro's own `kedro run` (its options and help), with expected errors kept short.
run = click.Command(
    name="run",
    callback=briefly(kedro_run.callback),
    params=kedro_run.params,
    help=kedro_run.help,
    short_help=kedro_run.short_help,
)
cli.add_command(run)


@cli.group()
def workspaces() -> None:
    """Training workspaces: one folder per recipe under training_workspace."""


@workspaces.command(name="list")
@ENV
@DATASET
@click.pass_obj
def list_workspaces(metadata: ProjectMetadata, env: str | None, dataset: str) -> None:
    """One row per recipe's folder, the most recently used first (marked *)."""
    root, catalog = workspace_root(metadata, env, dataset)
    found = ws.workspaces(root)
    if found:
        click.echo(ws.listing(found))
        return
    others = [key for key in catalog if key != dataset and key.endswith("training_workspace")
              and isinstance(catalog.get(key), WorkspaceDataset)]
    hint = f"; the environment's other workspace folders: {', '.join(others)} (--dataset)"
    click.echo(f"No training workspaces in {root}{hint if others else ''}")


@workspaces.command()
@ENV
@DATASET
@click.option(
    "--keep",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the most recently used workspaces to keep.",
)
@click.option("--yes", is_flag=True, help="Remove without asking.")
@click.pass_obj
def clean(metadata: ProjectMetadata, env: str | None, dataset: str, keep: int, yes: bool) -> None:
    """Remove all workspaces but the most recently used (folders moved aside by
    training.resume: false included)."""
    root, _ = workspace_root(metadata, env, dataset)
    doomed = ws.workspaces(root)[keep:]
    if not doomed:
        click.echo(f"Nothing to remove in {root}: it holds at most {keep} workspace(s)")
        return
    click.echo(f"In {root}, beyond the {keep} most recently used:")
    width = max(len(w.name) for w in doomed)
    for workspace in doomed:
        click.echo(f"  {workspace.name.ljust(width)}  {human_size(workspace.bytes)}")
    if not yes:
        click.confirm(f"Remove these {len(doomed)} workspace(s)?", abort=True)
    freed = ws.remove(doomed)
    click.echo(f"Removed {len(doomed)} workspace(s), freed {human_size(freed)}")


def workspace_root(
    metadata: ProjectMetadata, env: str | None, name: str
) -> tuple[Path, DataCatalog]:
    """The folder of catalog entry ``name`` in configuration environment ``env``, and the
    environment's catalog."""
    with KedroSession.create(project_path=metadata.project_path, env=env) as session:
        catalog = session.load_context().catalog
    dataset = catalog.get(name)
    if not isinstance(dataset, WorkspaceDataset):
        raise click.BadParameter(
            f"{name!r} is not a WorkspaceDataset in the catalog of environment "
            f"{env or 'digits'}; give the entry of a training workspace folder",
            param_hint="--dataset",
        )
    return metadata.project_path / dataset.path, catalog
