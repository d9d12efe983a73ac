"""Audio bases: a whole pretrained audio LM (encoder, adaptor, decoder and tokenizer) that `model.base` names.

The paper starts MGRD from a pretrained audio LLM (Step-Audio 2): an encoder, an adaptor and a
decoder that already say what they hear. The tiny recipe's stand-in for it is `bases/tiny-audio-v1`:
a model of the tiny sizes that went through the pipeline's encoder and audio-text pretraining stand-ins
for longer than a quickstart can afford (how it was made and what it measured: its MANIFEST.json and
docs/pipeline.md). `model.base` names a shipped audio base, a directory made by `mgrd export-base`,
or any checkpoint directory (a released Step-Audio-2-mini or Step-Audio-R1).

An audio base directory is a checkpoint in the official layout (`config.json`, `model.safetensors`,
the tokenizer files) plus `MANIFEST.json` with the weights' sha256, checked on every load, and
`probes.json` when its encoder was probed on held-out clips as it was made (the ladder's first rung
for a run that starts from it). Nothing in it is executed. A directory without a manifest is taken
as it is (a released checkpoint has none).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mgrd.pipeline.text_base import (MANIFEST, SHIPPED, copy_tokenizer, read_state, shipped_names, weights_sha256,
                                     write_dir)

WEIGHTS = "model.safetensors"
PROBES = "probes.json"


@dataclass(frozen=True)
class AudioBase:
    path: Path
    manifest: Mapping | None        # None for a checkpoint directory without one
    probes: Mapping | None          # the encoder's held-out probe report when the base was made


def locate(name_or_dir: str | os.PathLike) -> Path:
    """The directory `name_or_dir`, or the shipped base of that name where there is no such directory."""
    path = Path(name_or_dir)
    return SHIPPED / str(name_or_dir) if not path.is_dir() and (SHIPPED / str(name_or_dir)).is_dir() else path


def resolve(name_or_dir: str | os.PathLike) -> AudioBase:
    """The checkpoint at a directory, or the shipped audio base of that name; its weights checked against its
    manifest where it has one."""
    path = locate(name_or_dir)
    manifest = json.loads((path / MANIFEST).read_text()) if (path / MANIFEST).is_file() else None
    if manifest is not None and manifest.get("kind", "text") != "audio":
        raise ValueError(f"{path} is a text base (a decoder alone, its manifest has no kind: audio); name it as "
                         "model.text_base")
    if not (path / "config.json").is_file():
        shipped = ", ".join(shipped_names("audio")) or "none"
        raise FileNotFoundError(f"model.base={name_or_dir} is not a checkpoint directory (no config.json) and not "
                                "a shipped audio base; give a local Step-Audio-2-mini or Step-Audio-R1 directory, "
                                f"a directory made by `mgrd export-base`, or a shipped audio base: {shipped}")
    if manifest is None:
        return AudioBase(path, None, None)
    digest = weights_sha256(path / WEIGHTS)
    if manifest.get("sha256") != digest:
        raise ValueError(f"audio base {path}: {WEIGHTS} has sha256 {digest[:16]}…, its manifest says "
                         f"{str(manifest.get('sha256'))[:16]}…; the file is damaged or was replaced")
    probes = json.loads((path / PROBES).read_text()) if (path / PROBES).is_file() else None
    return AudioBase(path, manifest, probes)


def export(model_dir: str | os.PathLike, out: str | os.PathLike, *, probes: str | os.PathLike | None = None,
           made_by: Mapping | None = None, dtype: str = "bfloat16") -> AudioBase:
    """Write the whole checkpoint `model_dir` (its tensors in `dtype`) as an audio base at `out`, with the
    encoder's probe report `probes` (a probes.json of an encoder stage) when given."""
    from safetensors.torch import save_file

    model_dir, out = Path(model_dir), Path(out)
    config, state = read_state(model_dir, dtype)
    if probes is not None and not Path(probes).is_file():
        raise FileNotFoundError(f"probes={probes}: no such file (an encoder stage writes RUN/encoder_pretrain/"
                                "train/probes.json)")

    def fill(tmp: Path) -> dict:
        save_file(state, tmp / WEIGHTS, metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        if (model_dir / "generation_config.json").is_file():
            shutil.copy2(model_dir / "generation_config.json", tmp / "generation_config.json")
        copy_tokenizer(model_dir, tmp)
        if probes is not None:
            shutil.copy2(probes, tmp / PROBES)
        return {"name": out.name, "kind": "audio", "sha256": weights_sha256(tmp / WEIGHTS), "dtype": dtype,
                "parameters": sum(t.numel() for t in state.values()), "made_by": dict(made_by or {})}

    write_dir(out, fill)
    return resolve(out)
