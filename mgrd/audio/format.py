"""The fixed numbers of the Step-Audio frontend: sample rate, chunk lengths, STFT and mel sizes."""

from __future__ import annotations

SAMPLE_RATE = 16000  # Hz; every model input is resampled to this rate
CHUNK_SECONDS = 25.0  # s; long audio is cut into pieces of at most this length
MAX_CHUNK_SECONDS = 29.98  # s; longest chunk the encoder accepts (mel T <= 3000)
MAX_CHUNK_SAMPLES = 479680  # samples at 16 kHz; == MAX_CHUNK_SECONDS * SAMPLE_RATE
MAX_MEL_FRAMES = 3000  # the encoder's positional table holds 1500 positions after the stride-2 conv

N_MELS = 128  # mel bins
N_FFT = 400  # samples per STFT window (25 ms)
HOP_LENGTH = 160  # samples between STFT frames (10 ms)
PAD_SAMPLES = 479  # zeros appended before the STFT, so T = (n + 479) // 160
