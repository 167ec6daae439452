"""What a replayed call runs on, as replay asks its caller for it: a back office and a dialogue engine.

Replay sits below the composition root, so it does not build them: whoever starts a replay passes a
`RuntimeFactory`, which replay calls once to prepare the store and once per call on that call's
copy of it. Calls may run in worker processes, so the factory must pickle: a module-level function.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actions.backoffice import Backoffice
    from dialogue.engine import DialogueEngine


class CallRuntime(Protocol):
    """The back office and the dialogue engine on it, for one call (or for preparing the store)."""

    # The application settings it was built from: the phone line's `VoiceConfig.from_settings` reads
    # them (and `multilingual_stt`), so a replayed line is configured as the live one.
    settings: Any
    backoffice: Backoffice
    engine: DialogueEngine

    async def open(self) -> CallRuntime:
        """Open the store (import `data`, seed, schema) and the engine; construction does no I/O."""
        ...

    async def close(self) -> None: ...


class RuntimeFactory(Protocol):
    """Builds a `CallRuntime` on the SQLite store at `db_url`, importing `data` when given, with `faults`."""

    def __call__(self, *, data_dir: Path, db_url: str, data: Path | None, faults: str) -> CallRuntime: ...
