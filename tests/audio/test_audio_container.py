"""The magic-byte allowlist in front of every decoder."""

from __future__ import annotations

import pytest

from mgrd.audio import AudioError
from mgrd.audio.container import FLAC, MP3, OGG, WAV, sniff_container


@pytest.mark.parametrize(
    "head, container",
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", WAV),
        (b"fLaC\x00\x00\x00\x22", FLAC),
        (b"OggS\x00\x02", OGG),
        (b"ID3\x04\x00\x00", MP3),
        (b"\xff\xfb\x90\xc4", MP3),  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
        (b"\xff\xf3\x88\xc4", MP3),  # MPEG-2 layer III, 16 kHz
    ],
    ids=["wav", "flac", "ogg", "id3", "mpeg1_l3", "mpeg2_l3"],
)
def test_accepted_magic(head, container):
    assert sniff_container(head) is container


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF but not WAVE
        b"RF64\xff\xff\xff\xffWAVE",
        b"\xff\xf1\x50\x80",  # AAC ADTS: layer bits 00
        b"\xff\xfb\xf0\xc4",  # bitrate index 15 (reserved)
        b"\xff\xfb\x9c\xc4",  # sample-rate index 3 (reserved)
        b"\xff\xeb\x90\xc4",  # MPEG version 01 (reserved)
        b"#EXTM3U\nfile:///etc/passwd",  # HLS playlist
        b"\x00\x00\x00\x20ftypM4A ",  # MP4/M4A
        b"caff\x00\x01",  # CAF: libsndfile reads it, we do not
        b"\xff",
    ],
    ids=["riff_avi", "rf64", "adts", "bad_bitrate", "bad_rate", "bad_version", "m3u8", "m4a", "caf", "one_byte"],
)
def test_refused_magic(head):
    with pytest.raises(AudioError, match="unrecognised"):
        sniff_container(head)


def test_empty_input():
    with pytest.raises(AudioError, match="empty audio"):
        sniff_container(b"")
