"""`frontdesk chat` as a person uses it in a terminal, on the embedded back office."""

from __future__ import annotations

import os
import subprocess
import sys


def test_terminal_chat_answers_and_takes_a_quick_reply_by_number(tmp_path):
    env = os.environ | {"FRONTDESK_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    lines = "what options does the mechanical keyboard come in\nhow long does a refund take\nbye\n"
    run = subprocess.run(
        [sys.executable, "-m", "frontdesk", "chat"], input=lines, capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Hi, this is Frontdesk" in out
    assert "available options" in out and "clicky" in out
    assert "5 to 7 business days" in out
    assert "Goodbye" in out


def test_terminal_chat_refuses_a_missing_data_file(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "frontdesk", "chat", "--data", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "does not exist" in run.stderr
