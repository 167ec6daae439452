"""The serving process's garbage collector: settled once start-up is done.

Start-up leaves a few hundred thousand long-lived objects (models, schemas, SQLAlchemy tables,
pipecat classes). Left in the collector's oldest generation, every full collection walks them
all: measured with 500 open chats, 150-270 ms with the event loop stopped, which every turn in
flight waits out. Frozen, they are never walked again, and full collections only see the
sessions' own objects.

The thresholds bound the pauses that are left. A large first-generation threshold means far fewer
young collections under a steady stream of turns. The middle generation is collected every second
young collection, so it never holds more than a few young generations' survivors: at the default
of ten it grew to ~100 k objects while calls were being set up and one collection stopped the loop
for 100-160 ms. The oldest generation waits for 50 of those (CPython also waits until a quarter of
the old objects are new). Measured with 100 phone calls on two processes (bench/voice.py (c)):
longest collection 59-158 ms at (10000, 10, 10), 20-37 ms at (10000, 2, 50), and 500 chats
(bench/chat.py) kept the same p99 and memory per session.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
MIDDLE_THRESHOLD = 2
OLDEST_THRESHOLD = 50


def settle_after_startup() -> None:
    """Collect start-up garbage, then move everything alive into the permanent generation.

    For the one long-running server process only: what is frozen is never collected, so calling
    this again and again (say, per test) would keep every cycle made in between forever.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLDEST_THRESHOLD)
