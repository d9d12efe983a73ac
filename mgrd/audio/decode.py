"""Loading audio: bounded, validated decoding of files, bytes and arrays to float32 mono at 16 kHz."""

from __future__ import annotations

import io
import math
import numbers
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import soundfile
import soxr

from mgrd.audio.container import ACCEPTED_CONTAINERS, Container, sniff_container
from mgrd.audio.errors import AudioError
from mgrd.audio.format import SAMPLE_RATE

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # bytes of encoded input (file or buffer)
DEFAULT_MAX_SECONDS = 600.0  # s of audio after decoding
DEFAULT_MAX_DECODE_BYTES = 256 * 1024 * 1024  # bytes of decoded float32 samples, all channels

# One range for files and arrays alike: 8 kHz telephone audio up to 192 kHz studio masters.
MIN_SAMPLE_RATE = 8000  # Hz
MAX_SAMPLE_RATE = 192000  # Hz
MAX_CHANNELS = 8  # 7.1 surround
# Full scale is 1.0; 2**16 still admits floats holding raw int16 values, and keeps |STFT|^2 far
# below float32 overflow, so every accepted input has a finite log-mel.
MAX_PEAK_AMPLITUDE = 65536.0
READ_BLOCK_FRAMES = 1 << 16  # frames decoded per read: bounds the multichannel working buffer
UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's frame count for a stream whose length its header does not give

_INT_SCALE = {"int8": 2.0**7, "int16": 2.0**15, "int32": 2.0**31}
_ACCEPTED_DTYPES = "float16/32/64, int8, int16, int32 or uint8"


def load_audio(
    source: str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | tuple,
    *,
    sample_rate: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> np.ndarray:
    """Decode `source` to float32 mono samples at 16 kHz, shape [n], n >= 1.

    `source` is one of:
      - a path (str or os.PathLike) to a WAV, FLAC, OGG (Vorbis/Opus) or MP3 file;
      - the bytes of such a file (bytes, bytearray or memoryview);
      - a numpy array, shape [n] or [n, channels] (soundfile's layout), with `sample_rate=` its rate in Hz;
        floats are taken as full scale 1.0, ints are scaled like libsndfile (int16 / 2**15, uint8 centred at 128);
      - a tuple (array, sample_rate).
    `sample_rate` is only for array input: a file carries its own rate.

    Limits: `max_bytes` caps the encoded size (checked before reading a file), `max_seconds` the duration
    (exactly `max_seconds` is accepted, one frame more is not), `max_decode_bytes` the decoded
    frames * channels * 4 bytes. Accepted rates are 8000..192000 Hz, channels 1..8, samples finite with
    |x| <= 65536. Channels are averaged; other rates are resampled with soxr "HQ".
    Raises AudioError, with a message safe to show a remote client, for every input it refuses.
    """
    _check_limits(max_bytes, max_seconds, max_decode_bytes)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError(f"an audio tuple must be (array, sample_rate); got {len(source)} items")
        if sample_rate is not None:
            raise AudioError("give the sample rate inside the (array, sample_rate) tuple or as sample_rate=, not both")
        source, sample_rate = source
        if not isinstance(source, np.ndarray):
            kind = type(source).__name__
            raise AudioError(f"an (array, sample_rate) tuple must hold a numpy array, not {kind}")
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise AudioError("a numpy array needs its sample rate: pass sample_rate= (Hz)")
        rate = _checked_rate(sample_rate)
        return _finish(_array_to_mono(source, _frame_limit(max_seconds, rate), max_seconds), rate)
    if sample_rate is not None:
        raise AudioError("sample_rate= is only for array input; an audio file carries its own sample rate")
    if isinstance(source, (bytes, bytearray, memoryview)):
        if _nbytes(source) > max_bytes:
            raise AudioError(f"audio is {_nbytes(source)} bytes; the limit is {max_bytes} bytes")
        data = bytes(source) if isinstance(source, memoryview) else source
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(source, max_bytes)
    else:
        raise AudioError(
            f"unsupported audio source {type(source).__name__}; accepted: a file path, bytes, "
            "a numpy array with sample_rate=, or an (array, sample_rate) tuple"
        )
    mono, rate = _decode(data, max_seconds, max_decode_bytes)
    return _finish(mono, rate)


def _nbytes(data: bytes | bytearray | memoryview) -> int:
    return data.nbytes if isinstance(data, memoryview) else len(data)


def _check_limits(max_bytes: int, max_seconds: float, max_decode_bytes: int) -> None:
    for name, value in (("max_bytes", max_bytes), ("max_decode_bytes", max_decode_bytes)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise AudioError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, numbers.Real) or not 0 < max_seconds < math.inf:
        raise AudioError(f"max_seconds must be a positive finite number, got {max_seconds!r}")


def _frame_limit(max_seconds: float, rate: int) -> int:
    """Most frames allowed at `rate` Hz; rounding first so that 0.1 s * 44100 Hz is exactly 4410."""
    return math.floor(round(max_seconds * rate, 6))


def _checked_rate(rate: object) -> int:
    """`rate` as an int Hz inside the accepted range, else AudioError."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise AudioError(f"sample rate must be a number of Hz, got {type(rate).__name__}")
    if not float(rate).is_integer():
        raise AudioError(f"sample rate must be a whole number of Hz, got {rate}")
    rate = int(rate)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        accepted = f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        raise AudioError(f"sample rate {rate} Hz is outside the accepted range {accepted}")
    return rate


def _checked_channels(channels: int) -> int:
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"audio has {channels} channels; accepted: 1 to {MAX_CHANNELS}")
    return channels


def _duration_error(frames: int, rate: int, max_seconds: float) -> AudioError:
    return AudioError(
        f"audio duration exceeds the limit: more than {max_seconds:g} s (at least {frames / rate:.3f} s)"
    )


def _read_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, its size checked before reading."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise AudioError("audio file not found") from None
    except (OSError, TypeError, ValueError):
        raise AudioError("audio file could not be opened") from None
    try:
        info = os.fstat(fd)
        # fstat on the open descriptor, so a FIFO or device swapped in after a name check cannot hang us.
        if not stat.S_ISREG(info.st_mode):
            raise AudioError("audio file is not a regular file")
        if info.st_size > max_bytes:
            raise AudioError(f"audio file is {info.st_size} bytes; the limit is {max_bytes} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError:
        raise AudioError("audio file could not be read") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise AudioError(f"audio file is more than {max_bytes} bytes; the limit is {max_bytes} bytes")
    return data


@contextmanager
def _decoder_errors() -> Iterator[None]:
    """Turn whatever soundfile/libsndfile raises into an AudioError with a fixed, clean message."""
    try:
        yield
    except AudioError:
        raise
    except soundfile.LibsndfileError as e:
        # error_string is libsndfile's own static text; str(e) would add the buffer's repr (an address).
        reason = "".join(c for c in e.error_string if c.isprintable())[:120].strip() or "unknown error"
        raise AudioError(f"audio file could not be decoded ({reason}); accepted: {ACCEPTED_CONTAINERS}") from None
    except Exception:
        raise AudioError(f"audio file could not be decoded; accepted: {ACCEPTED_CONTAINERS}") from None


def _decode(
    data: bytes | bytearray | memoryview, max_seconds: float, max_decode_bytes: int
) -> tuple[np.ndarray, int]:
    """Mono float32 samples [n] and their rate in Hz, decoded from the bytes of an audio file."""
    container = sniff_container(data)
    with _decoder_errors(), soundfile.SoundFile(io.BytesIO(data)) as f:
        _check_codec(f, container)
        rate = _checked_rate(f.samplerate)
        channels = _checked_channels(f.channels)
        limit = _frame_limit(max_seconds, rate)
        byte_limit = max_decode_bytes // (4 * channels)
        # Header metadata may only reject: the real count is enforced again while decoding. A
        # stream of unknown length (FLAC total_samples = 0, as streaming encoders write it) has
        # no count to check before decoding.
        known = f.frames < UNKNOWN_FRAMES
        if known and f.frames > limit:
            raise _duration_error(f.frames, rate, max_seconds)
        if known and f.frames > byte_limit:
            raise AudioError(
                f"decoded audio would take {f.frames * channels * 4} bytes; the limit is {max_decode_bytes} bytes"
            )
        mono = _read_bounded(f, channels, min(limit, byte_limit), seekable=known)
    if mono.size > limit:
        raise _duration_error(mono.size, rate, max_seconds)
    if mono.size > byte_limit:
        raise AudioError(f"decoded audio takes more than {max_decode_bytes} bytes; that is the limit")
    return mono, rate


def _check_codec(f: soundfile.SoundFile, container: Container) -> None:
    if f.format not in container.formats:
        raise AudioError(
            f"audio file starts like {container.name} but decodes as {f.format}; accepted: {ACCEPTED_CONTAINERS}"
        )
    if f.subtype not in container.subtypes:
        accepted = ", ".join(sorted(container.subtypes))
        raise AudioError(f"{container.name} audio encoded as {f.subtype} is not accepted; accepted: {accepted}")


def _read_bounded(f: soundfile.SoundFile, channels: int, cap: int, *, seekable: bool = True) -> np.ndarray:
    """Decode block by block, averaging channels as it goes; stops after `cap` + 1 frames.

    Returns float32 [n], n <= cap + 1; reading one frame past the cap is how a too-long stream
    is told apart from one that ends exactly at the limit. Only an empty read ends the stream:
    a short one may just be a codec's packet boundary. `seekable=False` (a stream of unknown
    length) reads through libsndfile directly: soundfile's `read` seeks after every block, which
    libsndfile refuses on such a stream.
    """
    block = np.empty((min(READ_BLOCK_FRAMES, cap + 1), channels), dtype=np.float32)
    pieces: list[np.ndarray] = []
    total = 0
    while total <= cap:
        want = min(len(block), cap + 1 - total)
        got = f.read(want, dtype="float32", always_2d=True, out=block[:want]) if seekable \
            else _read_unseekable(f, block[:want])
        if len(got) == 0:
            break
        _check_samples(got)
        pieces.append(_mix_down(got))
        total += len(got)
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(pieces)


def _read_unseekable(f: soundfile.SoundFile, out: np.ndarray) -> np.ndarray:
    """Up to len(out) frames into `out` [n, channels] float32 (C order), with no seek; the frames read."""
    ptr = soundfile._ffi.cast("float*", out.ctypes.data)
    n = soundfile._snd.sf_readf_float(f._file, ptr, len(out))
    if n < 0:
        raise AudioError("audio file could not be decoded (read error)")
    return out[:n]


def _mix_down(frames: np.ndarray) -> np.ndarray:
    """Channel mean of float32 [n, channels] as a new float32 [n]."""
    if frames.shape[1] == 1:
        return frames[:, 0].copy()
    return frames.mean(axis=1, dtype=np.float32)


def _check_samples(x: np.ndarray) -> None:
    if not np.isfinite(x).all():
        raise AudioError("audio contains NaN or infinite samples; accepted: finite samples")
    if x.size and max(float(x.max()), -float(x.min())) > MAX_PEAK_AMPLITUDE:
        raise AudioError(f"audio peak amplitude exceeds {MAX_PEAK_AMPLITUDE:g} (full scale is 1.0)")


def _array_to_mono(array: np.ndarray, limit: int, max_seconds: float) -> np.ndarray:
    """Float32 mono [n] from a caller's array [n] or [n, channels] of int or float samples."""
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim != 2:
        raise AudioError(f"audio array must have shape [n] or [n, channels]; got shape {tuple(array.shape)}")
    if array.shape[1] > MAX_CHANNELS and array.shape[0] <= MAX_CHANNELS:
        raise AudioError(
            f"audio array shape {tuple(array.shape)} looks like [channels, n]; "
            "pass [n, channels] (soundfile's layout)"
        )
    _checked_channels(array.shape[1])
    if array.shape[0] == 0:
        raise AudioError("empty audio: the array has no samples")
    if array.shape[0] > limit:
        raise AudioError(f"audio duration exceeds the limit: more than {max_seconds:g} s")
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        x = array.astype(np.float32)
    elif dtype.name in _INT_SCALE:
        x = (array.astype(np.float64) / _INT_SCALE[dtype.name]).astype(np.float32)
    elif dtype.name == "uint8":
        x = ((array.astype(np.float64) - 128.0) / 128.0).astype(np.float32)
    else:
        raise AudioError(f"audio array dtype {dtype} is not accepted; accepted: {_ACCEPTED_DTYPES}")
    _check_samples(x)
    return _mix_down(x)


def _finish(mono: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono float32 [n] from `rate` Hz to 16 kHz; refuse empty results."""
    if mono.size == 0:
        raise AudioError("empty audio: no samples were decoded")
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(mono, dtype=np.float32)
    try:
        out = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    except Exception:
        raise AudioError(f"audio could not be resampled from {rate} Hz to {SAMPLE_RATE} Hz") from None
    if out.size == 0:
        raise AudioError(f"audio too short: {mono.size} samples at {rate} Hz give no sample at {SAMPLE_RATE} Hz")
    return np.ascontiguousarray(out, dtype=np.float32)
