"""`frontdesk chat`: the dialogue in a terminal, against the embedded back office."""

from __future__ import annotations

import asyncio

from rich.console import Console

from dialogue.api import CustomerInput, TurnResult
from frontdesk.runtime import build_runtime
from frontdesk.settings import Settings


def _show(console: Console, result: TurnResult) -> list[str]:
    values: list[str] = []
    for message in result.messages:
        who = "agent" if message.role == "agent" else "frontdesk"
        console.print(f"[bold cyan]{who}>[/] {message.text}")
        for i, choice in enumerate(message.choices, 1):
            console.print(f"   [dim]{i}.[/] {choice.label}")
        values = [c.value for c in message.choices] or values
    if result.handoff is not None:
        console.print(f"[yellow]handed off: {result.handoff.issue_summary}[/]")
    return values


async def run_chat(settings: Settings) -> None:
    console = Console()
    runtime = await build_runtime(settings)
    try:
        result = await runtime.engine.start("terminal")
        choices = _show(console, result)
        session_id = result.session_id
        while not result.ended:
            try:
                line = await asyncio.to_thread(console.input, "[bold green]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                await runtime.engine.end(session_id, "customer_left")
                break
            line = line.strip()
            if line.isdigit() and choices and 1 <= int(line) <= len(choices):
                user_input = CustomerInput(choice=choices[int(line) - 1])
            else:
                user_input = CustomerInput(text=line[:4096])
            result = await runtime.engine.handle(session_id, user_input)
            choices = _show(console, result)
            if result.state.mode == "agent":
                console.print("[yellow]The conversation is with a person now; the terminal session ends here.[/]")
                break
    finally:
        await runtime.close()
