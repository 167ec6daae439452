"""The development set's machinery on a few public benchmark tasks: the scripted customer plays them
over the chat socket and the store ends as the gold writes leave it (the whole set, with several
wordings each, is `bench/conversations.py`)."""

from __future__ import annotations

import json

import pytest

from tests.dev_set import TASKS, judge, play
from tests.scripted_customer import task_from


@pytest.fixture(scope="module")
def tasks() -> dict[str, dict]:
    return {t["id"]: t for t in json.loads(TASKS.read_text())["tasks"]}


def first_of(tasks: dict[str, dict], store: dict, kind: str) -> dict:
    return next(t for t in tasks.values() if task_from(t, store).kind == kind)


@pytest.mark.parametrize("kind", ["cancel", "exchange", "return"])
async def test_a_benchmark_task_over_the_chat_ends_in_the_gold_state(kind, tasks, data, office_template, tmp_path):
    raw = first_of(tasks, data, kind)
    played = await play(raw, 0, data, office_template, tmp_path)
    assert played.passed, "\n".join(played.transcript + played.differences)


def test_a_store_left_alone_is_not_a_pass_when_the_gold_writes():
    before, gold = {"orders": {"#W1": {"status": "pending"}}}, {"orders": {"#W1": {"status": "cancelled"}}}
    assert judge(before, gold, before, writes=True) == "nothing written"
    assert judge({"orders": {"#W1": {"status": "delivered"}}}, gold, before, writes=True) == "wrong write"
    assert judge(gold, gold, before, writes=True) == "passed"
    assert judge(gold, before, before, writes=False) == "unwanted write"
    assert judge(before, None, before, writes=True) == "gold not reachable"
