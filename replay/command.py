"""`frontdesk replay CALL... [--expect FILE] [--report DIR] [--timing original|turns] [--data FILE] [--jobs N]`.

Prints one line per call (and what failed), writes the reports when `--report` is given, and exits
1 when any expectation failed or a call could not be replayed (2 for bad arguments). The composition
root builds the command with the `RuntimeFactory` every replayed call runs on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from qa.expect import ExpectationError
from qa.expect import load as load_expectations
from replay.inputs import InputError, find_calls
from replay.runtime import RuntimeFactory


def replay_command(runtime_factory: RuntimeFactory) -> Callable[..., None]:
    """The command, its calls run on what `runtime_factory` builds (a module-level function: it pickles)."""

    def replay(
        calls: Annotated[
            list[Path], typer.Argument(help="caller WAVs, call folders (call.wav + expect.yaml), or folders of them")
        ],
        expect: Annotated[
            Path | None,
            typer.Option("--expect", help="expectations for every call (instead of each call's expect.yaml)"),
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="write report.json per call and report.html here")
        ] = None,
        timing: Annotated[
            str,
            typer.Option(
                "--timing",
                help="original: as recorded (barge-ins where they were); "
                "turns: each utterance once the bot has finished",
            ),
        ] = "original",
        data: Annotated[
            Path | None,
            typer.Option("--data", help="a db.json-shaped store for the back office (default: the embedded one)"),
        ] = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="calls replayed at once")] = 1,
        caller_channel: Annotated[
            str | None,
            typer.Option("--caller-channel", help="the caller's channel of a stereo recording: left, right, 0 or 1"),
        ] = None,
        model_time: Annotated[
            str,
            typer.Option(
                "--model-time",
                help="real: the speech models and the rest take their real time on the call's clock; "
                "free: computing takes none (verdicts independent of machine load)",
            ),
        ] = "real",
        speech_cache: Annotated[
            bool, typer.Option("--speech-cache/--no-speech-cache", help="reuse the bot's already synthesized sentences")
        ] = True,
    ) -> None:
        """QA: replay recorded calls through the phone pipeline faster than real time, score them, report."""
        # Before pipecat is imported: its frames bind time.time on import (see replay.clock).
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from qa.report import aggregate, write_call, write_summary
        from replay import clock  # noqa: F401
        from replay.audio import write_audio
        from replay.html import write_html
        from replay.runner import ReplayOptions, quiet_logs, replay_calls

        console = Console(stderr=True)

        def bad(message: str) -> None:
            typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)

        if timing not in ("original", "turns"):
            bad(f"--timing must be original or turns, not {timing!r}")
        if model_time not in ("real", "free"):
            bad(f"--model-time must be real or free, not {model_time!r}")
        if caller_channel is not None and caller_channel not in ("left", "right", "0", "1"):
            bad(f"--caller-channel must be left, right, 0 or 1, not {caller_channel!r}")
        if data is not None and not data.is_file():
            bad(f"{data} does not exist")
        try:
            if expect is not None:
                load_expectations(expect)
            found = find_calls(calls, expect)
            for call in found:
                load_expectations(call.expect)
        except (InputError, ExpectationError) as exc:
            bad(str(exc))
        if not found:
            bad("no calls to replay")

        quiet_logs()
        options = ReplayOptions(timing=timing, data=data, caller_channel=caller_channel, jobs=jobs,  # type: ignore[arg-type]
                                speech_cache=speech_cache, model_time=model_time)  # fmt: skip
        started = time.perf_counter()
        with Progress(TextColumn("[bold]replay[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:  # fmt: skip
            task = progress.add_task(f"{len(found)} calls", total=len(found))

            def done(call_report, _audio) -> None:
                mark = "[green]pass[/green]" if call_report.passed else "[red]FAIL[/red]"
                progress.console.print(
                    f"{mark} {call_report.name}: {call_report.outcome}, {call_report.call_s:.1f} s of call in "
                    f"{call_report.wall_s:.1f} s ({call_report.speed:.1f}x)"
                )
                progress.advance(task)

            results = replay_calls(found, options, runtime_factory=runtime_factory, on_done=done)
        wall = time.perf_counter() - started
        reports = [r for r, _ in results]
        summary = aggregate(reports, wall)
        if report is not None:
            report.mkdir(parents=True, exist_ok=True)
            for call_report, audio in results:
                write_audio(write_call(report, call_report), audio)
            write_summary(report, reports, summary)
            html = write_html(report / "report.html", results, summary)
            console.print(f"wrote {html} and {len(reports)} report.json files under {report}")
        failures = [message for r in reports for message in r.failures()]
        speed = summary.call_s / wall if wall else 0.0
        console.print(
            f"{summary.passed}/{summary.calls} calls passed; "
            f"{summary.call_s:.0f} s of calls in {wall:.1f} s ({speed:.1f}x real time)"
        )
        for message in failures:
            typer.secho(message, err=True, fg=typer.colors.RED)
        raise typer.Exit(1 if failures else 0)

    return replay
