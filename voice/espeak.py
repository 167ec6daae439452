"""espeak-ng through ctypes, from the library and voice data the espeakng-loader wheel bundles.

The library keeps global state, so one process-wide engine serialises synthesis behind a lock.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakEngine:
    """Synthesises text in any language espeak-ng has a voice for, as 16-bit mono PCM."""

    _instance: EspeakEngine | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._lib.espeak_Synth.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode("utf-8")
        self.sample_rate = int(self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0))
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        # Kept on the instance: ctypes callbacks are freed when their Python object is.
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._voice: str | None = None

    @classmethod
    def shared(cls) -> EspeakEngine:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_audio(self, wav, num_samples: int, _events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def synthesize(self, text: str, language: str, *, rate_wpm: int = 165) -> bytes:
        """The whole utterance as int16 PCM at `sample_rate` (espeak-ng is far faster than real time)."""
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._voice != language:
                if self._lib.espeak_SetVoiceByName(language.encode("ascii")) != 0:
                    raise ValueError(f"espeak-ng has no voice for language {language!r}")
                self._voice = language
            self._lib.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
            self._chunks = []
            result = self._lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if result != 0:
            raise RuntimeError(f"espeak-ng synthesis failed ({result})")
        return np.concatenate(chunks).astype(np.int16).tobytes() if chunks else b""
