"""AudioError: the one exception every bad audio input raises."""

from __future__ import annotations


class AudioError(ValueError):
    """Audio that cannot be accepted, with a message safe to show to a remote client.

    The message names the problem and what is accepted; it never contains a file path,
    a memory address or a decoder's traceback.
    """
