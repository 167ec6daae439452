"""Two servers on one store: no server overwrites a change to a conversation it has not seen.

Each engine keeps its own copy of the sessions it served; an agent joining through one server and the
customer's next message arriving at the other must both count, whatever the order."""

from __future__ import annotations

from dialogue.store import StaleState
from tests.dialogue_support import Chat, make_engine


async def test_agent_join_on_one_server_is_not_undone_by_a_turn_on_the_other(backoffice):
    server_a, server_b = await make_engine(backoffice), await make_engine(backoffice)
    customer = Chat(server_a)
    await customer.start()
    await customer.say("where is my order")  # server A now holds the session in memory

    await server_b.agent_join(customer.session_id, "Maria")
    await customer.say("hello? are you still there")  # reaches server A, whose copy predates the join

    stored = await server_b.store.load(customer.session_id)
    assert stored.mode == "agent" and stored.agent == "Maria"
    assert customer.last.messages == [] or all(m.role != "bot" for m in customer.last.messages)
    transcript = [(t.role, t.text) for t in await server_b.store.transcript(customer.session_id)]
    assert ("customer", "hello? are you still there") in transcript


async def test_a_save_from_a_stale_copy_is_refused(backoffice):
    server_a, server_b = await make_engine(backoffice), await make_engine(backoffice)
    customer = Chat(server_a)
    await customer.start()
    stale = await server_a.store.load(customer.session_id)
    await server_b.agent_message(customer.session_id, "Maria", "I'm looking into it")

    try:
        await server_a.store.save(stale, previous_revision=stale.revision)
    except StaleState:
        pass
    else:
        raise AssertionError("a save from a copy older than the agent's message was accepted")
    stored = await server_a.store.load(customer.session_id)
    assert stored.revision == stale.revision + 1
