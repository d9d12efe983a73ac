"""The paper's benchmarks as tasks, loaded from local directories in their official layouts."""

from mgrd.tasks.benchmarks.benchmark import Benchmark, render_prompt
from mgrd.tasks.benchmarks.bigbench_audio import BigBenchAudio, load_bigbench_audio
from mgrd.tasks.benchmarks.choice import STEP_CHOICE_PROMPT, ChoiceBenchmark
from mgrd.tasks.benchmarks.layout import LayoutError
from mgrd.tasks.benchmarks.mmar import MMAR, load_mmar
from mgrd.tasks.benchmarks.mmau import MMAU, MMAUOriginal, load_mmau
from mgrd.tasks.benchmarks.mmsu import MMSU, load_mmsu
from mgrd.tasks.benchmarks.spoken_mqa import SpokenMQA, load_spoken_mqa
from mgrd.tasks.benchmarks.wildspeech import WildSpeech, load_wildspeech

__all__ = ["MMAR", "MMAU", "MMSU", "STEP_CHOICE_PROMPT", "Benchmark", "BigBenchAudio", "ChoiceBenchmark",
           "LayoutError", "MMAUOriginal", "SpokenMQA", "WildSpeech", "load_bigbench_audio", "load_mmar",
           "load_mmau", "load_mmsu", "load_spoken_mqa", "load_wildspeech", "render_prompt"]
