"""The `frontdesk` command line: serve, chat, dial, replay and back-office operations."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frontdesk.settings import Settings

if TYPE_CHECKING:
    from frontdesk.runtime import Runtime

app = typer.Typer(help="Frontdesk: voice and chat front end for customer support.", no_args_is_help=True)
backoffice_app = typer.Typer(help="Load, dump and check the back office.", no_args_is_help=True)
app.add_typer(backoffice_app, name="backoffice")

DbOption = Annotated[str | None, typer.Option("--db", help="database URL (default: the embedded SQLite file)")]


def _settings(db: str | None = None, data: Path | None = None) -> Settings:
    settings = Settings()
    if db:
        settings.db_url = db
    if data:
        settings.data = data
    return settings


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="import this db.json-shaped store first")] = None,
    db: DbOption = None,
) -> None:
    """Serve the web chat, the agent console, the Twilio endpoints and the APIs."""
    import uvicorn

    from frontdesk.app import create_app
    from frontdesk.logs import configure_logging

    settings = _settings(db, data)
    if data and not data.exists():
        _fail(f"{data} does not exist")
    configure_logging(settings.log_level)
    made = settings.ensure_tokens()
    for kind, token in made.items():
        typer.echo(f"{kind} token for this run: {token}  (set FRONTDESK_{kind.upper()}_TOKEN to keep one)")
    uvicorn.run(
        create_app(settings, long_running=True),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        ws_max_size=64 * 1024,
        # Twilio does not compress media messages; negotiating deflate would cost CPU on 50 frames/s.
        ws_per_message_deflate=False,
    )


@app.command()
def chat(
    data: Annotated[Path | None, typer.Option("--data", help="import this db.json-shaped store first")] = None,
    db: DbOption = None,
) -> None:
    """Talk to Frontdesk in the terminal (number keys pick a quick reply)."""
    from frontdesk.terminal import run_chat

    if data and not data.exists():
        _fail(f"{data} does not exist")
    asyncio.run(run_chat(_settings(db, data)))


def replay_runtime(*, data_dir: Path, db_url: str, data: Path | None, faults: str) -> Runtime:
    """What each replayed call runs on: a runtime on its own store and faults, the rest from the environment.

    Module-level so that it pickles to replay's worker processes.
    """
    # Imported when a replay runs: every command loads this module, and the engine takes seconds to import.
    from frontdesk.runtime import Runtime

    return Runtime(Settings(data_dir=data_dir, db_url=db_url, data=data, faults=faults))


def _register_replay() -> None:
    from replay.command import replay_command

    app.command("replay", help="QA: replay recorded calls through the phone pipeline, score them, report.")(
        replay_command(replay_runtime)
    )


_register_replay()


def _register_dial() -> None:
    from voice.dial import dial_command

    app.command("dial", help="Call the phone line like Twilio would (a real Media Streams client).")(dial_command)


_register_dial()


@backoffice_app.command("import")
def backoffice_import(
    file: Annotated[Path, typer.Argument(help="a store in the retail db.json shape")],
    db: DbOption = None,
) -> None:
    """Replace the back office with FILE."""
    from actions.backoffice import Backoffice

    if not file.exists():
        _fail(f"{file} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail(f"{file} is not JSON (UTF-8 text expected): {exc}")

    async def run() -> dict:
        bo = await Backoffice(_settings(db).resolved_db_url()).open()
        try:
            return await bo.import_data(data)
        finally:
            await bo.close()

    try:
        counts = asyncio.run(run())
    except (ValueError, KeyError, TypeError) as exc:
        _fail(f"{file} is not a valid store: {exc}")
    typer.echo("imported " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@backoffice_app.command("export")
def backoffice_export(
    file: Annotated[Path | None, typer.Argument(help="write here instead of standard output")] = None,
    db: DbOption = None,
) -> None:
    """Dump the whole back office as JSON (retail db.json shape plus the other systems)."""
    from actions.backoffice import Backoffice

    async def run() -> dict:
        bo = await Backoffice(_settings(db).resolved_db_url()).open()
        try:
            return await bo.export_data()
        finally:
            await bo.close()

    data = asyncio.run(run())
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if file is None:
        sys.stdout.write(text + "\n")
    else:
        file.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {file}")


@backoffice_app.command("reconcile")
def backoffice_reconcile(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Compare the audit log with the systems of record; exit 1 when anything needs a person."""
    from rich.console import Console
    from rich.table import Table

    from actions.backoffice import Backoffice
    from actions.reconcile import reconcile

    async def run():
        bo = await Backoffice(_settings(db).resolved_db_url()).open()
        try:
            return await reconcile(bo.db)
        finally:
            await bo.close()

    report = asyncio.run(run())
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        console = Console()
        checked = f"{report.checked_writes} verified writes and {report.checked_workflows} workflows checked"
        if report.clean:
            console.print(f"[green]clean[/green]: {checked}, nothing to reconcile")
        else:
            table = Table(title=f"{len(report.findings)} to reconcile ({checked})")
            for column in ("kind", "system", "subject", "detail", "audit / workflow"):
                table.add_column(column, overflow="fold")
            for f in report.findings:
                ref = " ".join(x for x in (f"#{f.audit_id}" if f.audit_id else "", f.workflow_id or "") if x)
                table.add_row(f.kind, f.system, f.subject, f.detail, ref)
            console.print(table)
    raise typer.Exit(0 if report.clean else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
