"""Text bases: a pretrained text decoder and its tokenizer that a new tiny model starts from.

The paper starts from a released text LLM; the tiny recipe's stand-in for it is a decoder
language-model-trained on the world's text items for longer than a quickstart can afford
(`bases/tiny-text-v1`, its making and measurements in its MANIFEST.json and in docs/pipeline.md).
`model.text_base` names a shipped base or a directory made by `mgrd export-text-base`: the base
stage then takes the tokenizer and the decoder's weights from it and builds the audio encoder and
adaptor new, from the run's seed.

A text base directory holds `decoder.safetensors` (the decoder's tensors under the checkpoint's own
names, `model.*` and `lm_head.*`), `text_config.json`, the tokenizer files and `MANIFEST.json` with
the weights' sha256, which is checked on every load. Nothing in it is executed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).with_name("bases")
WEIGHTS = "decoder.safetensors"
CONFIG = "text_config.json"
MANIFEST = "MANIFEST.json"
DECODER_PREFIXES = ("model.", "lm_head.")
# The sizes a base fixes; the recipe's model section must agree with them. (The vocabulary is the
# base tokenizer's: the recipe's vocab_size only sizes a tokenizer trained from scratch.)
SIZES = {"hidden_size": "hidden_size", "intermediate_size": "intermediate_size",
         "num_hidden_layers": "layers", "num_attention_heads": "heads", "num_key_value_heads": "kv_heads"}


@dataclass(frozen=True)
class TextBase:
    path: Path
    digest: str                 # sha256 of decoder.safetensors
    text_config: Mapping
    manifest: Mapping


def shipped_names(kind: str = "text") -> list[str]:
    """The shipped bases of `kind` (text: a decoder for `model.text_base`; audio: a whole model for `model.base`)."""
    found = [p for p in SHIPPED.iterdir() if (p / MANIFEST).is_file()] if SHIPPED.is_dir() else []
    return sorted(p.name for p in found if json.loads((p / MANIFEST).read_text()).get("kind", "text") == kind)


def weights_sha256(path: Path) -> str:
    from mgrd.evaluation.identity import file_sha256

    return file_sha256(path, remember=False)     # read every time: a damaged file must be noticed


def resolve(name_or_dir: str | os.PathLike) -> TextBase:
    """The text base at a directory, or the shipped one of that name; its weights checked against its manifest."""
    path = Path(name_or_dir)
    if not path.is_dir():
        path = SHIPPED / str(name_or_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"text_base={name_or_dir}: not a directory and not a shipped text base; "
                                f"shipped: {', '.join(shipped_names()) or 'none'}")
    missing = [f for f in (WEIGHTS, CONFIG, MANIFEST, "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise FileNotFoundError(f"text base {path} lacks {', '.join(missing)} (make one with `mgrd export-text-base`)")
    manifest = json.loads((path / MANIFEST).read_text())
    digest = weights_sha256(path / WEIGHTS)
    if manifest.get("sha256") != digest:
        raise ValueError(f"text base {path}: {WEIGHTS} has sha256 {digest[:16]}…, its manifest says "
                         f"{str(manifest.get('sha256'))[:16]}…; the file is damaged or was replaced")
    return TextBase(path, digest, json.loads((path / CONFIG).read_text()), manifest)


def tokenizer(base: TextBase):
    from mgrd.chat import Tokenizer

    return Tokenizer.from_dir(base.path)


def check_fits(base: TextBase, spec) -> None:
    """Refuse a recipe whose model sizes (`spec`: the recipe's ModelSpec) differ from the base's."""
    wrong = [f"model.{ours}={getattr(spec, ours)} (the base has {base.text_config[theirs]})"
             for theirs, ours in SIZES.items() if getattr(spec, ours) != base.text_config[theirs]]
    if wrong:
        raise ValueError(f"text base {base.path.name} does not fit the recipe: {'; '.join(wrong)}; set these "
                         "sizes to the base's, or leave model.text_base out to train a decoder from scratch")


def load_into(model, base: TextBase) -> None:
    """Copy the base's decoder tensors into `model` (an AudioLM of the same text sizes), in its dtype."""
    from safetensors.torch import load_file

    state = load_file(base.path / WEIGHTS)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(DECODER_PREFIXES)}
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise ValueError(f"text base {base.path.name} does not match the model: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise ValueError(f"text base {base.path.name}: shapes differ for {bad[:4]}")
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own}, strict=False)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def copy_tokenizer(model_dir: Path, out: Path) -> None:
    for name in TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, out / name)


def write_dir(out: Path, fill) -> None:
    """Make directory `out` whole or not at all: `fill(tmp)` writes the files and returns the manifest,
    written last; the directory is then moved into place (read-only files)."""
    if out.exists():
        raise ValueError(f"{out} already exists; give a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        manifest = fill(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        for f in tmp.iterdir():
            f.chmod(0o644)
        tmp.chmod(0o755)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_state(model_dir: Path, dtype: str, prefixes: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """A checkpoint's config.json and its tensors (those under `prefixes`, or all) cast to `dtype`."""
    import torch
    from safetensors import safe_open

    if dtype not in ("bfloat16", "float32"):
        raise ValueError(f"dtype={dtype!r}; accepted: bfloat16, float32")
    files = sorted(model_dir.glob("*.safetensors"))
    if not files or not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a checkpoint of this layout (config.json with text_config, "
                                "*.safetensors)")
    config = json.loads((model_dir / "config.json").read_text())
    if "text_config" not in config:
        raise FileNotFoundError(f"{model_dir}/config.json has no text_config: not a checkpoint of this layout")
    state = {}
    for f in files:
        with safe_open(f, "pt") as s:
            state.update({k: s.get_tensor(k).to(getattr(torch, dtype)).contiguous()
                          for k in s.keys() if prefixes is None or k.startswith(prefixes)})
    return config, state


def export(model_dir: str | os.PathLike, out: str | os.PathLike, *, made_by: Mapping | None = None,
           dtype: str = "bfloat16") -> TextBase:
    """Write the decoder and tokenizer of checkpoint `model_dir` as a text base at `out` (whole, then moved in)."""
    from safetensors.torch import save_file

    model_dir, out = Path(model_dir), Path(out)
    config, state = read_state(model_dir, dtype, DECODER_PREFIXES)

    def fill(tmp: Path) -> dict:
        save_file(state, tmp / WEIGHTS, metadata={"format": "pt"})
        (tmp / CONFIG).write_text(json.dumps(config["text_config"], indent=2) + "\n")
        copy_tokenizer(model_dir, tmp)
        return {"name": out.name, "sha256": weights_sha256(tmp / WEIGHTS), "dtype": dtype,
                "parameters": sum(t.numel() for t in state.values()), "made_by": dict(made_by or {})}

    write_dir(out, fill)
    return resolve(out)
