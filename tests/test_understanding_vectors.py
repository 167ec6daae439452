"""Embedded vectors kept on disk between processes: the same vectors, never a broken index."""

from __future__ import annotations

import numpy as np

from dialogue.understanding.embeddings import embed, stored

TEXTS = ["can i pay with paypal", "how long does a refund take"]


def test_stored_vectors_are_the_embedded_ones_and_a_damaged_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTDESK_CACHE_DIR", str(tmp_path))
    stored(TEXTS)
    (kept,) = tmp_path.glob("*.npy")
    np.testing.assert_allclose(stored(TEXTS), embed(TEXTS), atol=1e-6)
    kept.write_bytes(b"not an array")
    np.testing.assert_allclose(stored(TEXTS), embed(TEXTS), atol=1e-6)
    assert stored(TEXTS[:1]).shape == (1, 384)  # other texts, another file
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FRONTDESK_CACHE_DIR", str(blocked / "vectors"))
    np.testing.assert_allclose(stored(TEXTS), embed(TEXTS), atol=1e-6)
