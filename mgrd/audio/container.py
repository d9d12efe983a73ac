"""Audio containers recognised by their first bytes: the allowlist checked before any decoder runs."""

from __future__ import annotations

from dataclasses import dataclass

from mgrd.audio.errors import AudioError

ACCEPTED_CONTAINERS = "WAV, FLAC, OGG (Vorbis or Opus) or MP3"


@dataclass(frozen=True)
class Container:
    """One accepted container: the libsndfile formats and codecs allowed to decode it."""

    name: str
    formats: frozenset[str]  # soundfile's `SoundFile.format` values
    subtypes: frozenset[str]  # soundfile's `SoundFile.subtype` values


WAV = Container(
    "WAV",
    frozenset({"WAV", "WAVEX"}),
    # ADPCM and the other exotic WAV codecs are left out: that is where libsndfile's heap overflows were.
    frozenset({"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"}),
)
FLAC = Container("FLAC", frozenset({"FLAC"}), frozenset({"PCM_S8", "PCM_16", "PCM_24"}))
OGG = Container("OGG", frozenset({"OGG"}), frozenset({"VORBIS", "OPUS"}))
MP3 = Container("MP3", frozenset({"MP3"}), frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}))


def _is_mpeg_frame_header(head: bytes) -> bool:
    """True when `head` starts with a plausible MPEG-1/2/2.5 audio frame header (not AAC/ADTS)."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    rate_index = (head[2] >> 2) & 0b11
    # Reserved codes; ADTS (AAC) uses layer 0, so it is refused here too.
    return version != 0b01 and layer != 0b00 and bitrate_index != 0xF and rate_index != 0b11


def sniff_container(head: bytes) -> Container:
    """The container that the first bytes of a file announce.

    `head`: at least the first 12 bytes of the file (more is fine). Raises AudioError for an
    empty input or anything outside the allowlist (RIFF/WAVE, fLaC, OggS, ID3 or an MPEG frame sync).
    """
    head = bytes(head[:12])
    if not head:
        raise AudioError("empty audio: the audio file has no bytes")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return OGG
    if head[:3] == b"ID3" or _is_mpeg_frame_header(head):
        return MP3
    raise AudioError(f"unrecognised audio file: the first bytes are not {ACCEPTED_CONTAINERS}")
