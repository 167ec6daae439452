"""Log output of a serving process: one level for the standard library's loggers and for loguru,
which pipecat logs through (at DEBUG it prints several lines per audio turn of every call)."""

from __future__ import annotations

import logging
import sys

from loguru import logger


def configure_logging(level: str) -> None:
    level = level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logger.remove()
    logger.add(sys.stderr, level=level)
