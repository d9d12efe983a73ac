"""mgrd: Step-Audio-R1 and Modality-Grounded Reasoning Distillation, in one package."""

__version__ = "0.1.0"
