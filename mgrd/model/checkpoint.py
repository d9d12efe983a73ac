"""Loading and saving AudioLM checkpoints in the official layout (config.json + safetensors only)."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from mgrd.io import atomic_path, remove_stale_temporaries, write_json_atomic
from mgrd.model.audiolm import AudioLM
from mgrd.model.build import build_model, empty_model, restore_buffers
from mgrd.model.config import AudioTokenIds, read_config, write_config
from mgrd.model.lora import (ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTOR_WEIGHTS, PEFT_PREFIX, AdapterSpec, config_sha256,
                             is_adapter_dir, merge_adapter, read_adapter)
from mgrd.runtime import resolve_dtype

log = logging.getLogger(__name__)

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
GENERATION_CONFIG = "generation_config.json"
GiB = 1024**3
_SHARD_RE = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_AUDIO_TOKEN_NAMES = {"start": "<audio_start>", "end": "<audio_end>", "patch": "<audio_patch>"}
_LIST_LIMIT = 20
MAX_CHAIN = 8   # an adapter whose base is an adapter directory, and so on


def load_pretrained(path: str | os.PathLike, *, dtype: torch.dtype | str = torch.float32,
                    device: str | torch.device = "cpu", tokenizer_special_ids: Any = None,
                    strict: bool = True) -> AudioLM:
    """Load a checkpoint directory (official R1 / R1.1 / mini layout, or saved by mgrd) in eval mode.

    Weights are read from safetensors only and cast to `dtype` ("auto": the config's torch_dtype);
    the model is built on the meta device first, so nothing is allocated twice. Audio token ids
    come from `tokenizer_special_ids` (attributes audio_start/audio_end/audio_patch), else from the
    directory's tokenizer JSON files by token name, else from config.json (official ids by default).
    strict=False tolerates missing keys (left randomly initialised) and unexpected ones (ignored).
    A LoRA adapter directory (adapter_config.json, mgrd.model.lora) loads as its base model with
    the adapter merged in.
    """
    path = Path(path)
    if is_adapter_dir(path):
        return load_with_adapter(path, dtype=dtype, device=device, tokenizer_special_ids=tokenizer_special_ids,
                                 strict=strict)
    # Ids are resolved before the config is validated: a small vocabulary cannot hold the
    # official ids, so its config is only valid together with its tokenizer's ids.
    ids = _special_ids(tokenizer_special_ids) or read_audio_token_ids(path)
    cfg = read_config(path, audio_token_ids=ids)
    dtype = resolve_dtype(cfg.text.torch_dtype if dtype == "auto" else dtype)
    key_files = weight_files(path)
    if strict:
        model = empty_model(cfg, dtype=dtype, device="meta")
    else:
        model = build_model(cfg, seed=0, dtype=dtype)
        model.to(device)
    expected = model.state_dict()
    missing = [k for k in expected if k not in key_files]
    unexpected = [k for k in key_files if k not in expected]
    if strict and (missing or unexpected):
        raise ValueError(f"checkpoint {path} does not match the model built from its config.json: "
                         f"{_listing('missing', missing)}; {_listing('unexpected', unexpected)}")
    if missing or unexpected:
        log.warning("loading %s non-strictly: %s; %s", path, _listing("missing (random init)", missing),
                    _listing("unexpected (ignored)", unexpected))
    by_file: dict[Path, list[str]] = {}
    for key, file in key_files.items():
        if key in expected:
            by_file.setdefault(file, []).append(key)
    _check_shapes(by_file, expected)
    _load_files(model, by_file, dtype=dtype, device=device, assign=strict)
    restore_buffers(model, device)
    return model.eval()


def save_pretrained(model: AudioLM, path: str | os.PathLike, *, tokenizer: Any = None,
                    max_shard_bytes: int = 2 * GiB, generation_eos_ids: Sequence[int] | None = None) -> None:
    """Write `model` to `path` in the official layout; every file is written atomically.

    Weights go to one `model.safetensors`, or to `model-0000i-of-0000n.safetensors` shards plus
    `model.safetensors.index.json` when larger than max_shard_bytes. Also writes config.json
    (nested layout), generation_config.json (eos = generation_eos_ids, default the config's eos
    ids) and, if given, the tokenizer via its `.save(path)`. Stale weight files are removed, and so
    are the temporaries of an earlier save that was killed.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)   # left by an export that was killed mid-write
    state = model.state_dict()
    shards = _plan_shards(state, max_shard_bytes)
    names = [SINGLE_FILE] if len(shards) == 1 else \
        [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    (path / INDEX_FILE).unlink(missing_ok=True)  # a stale index would shadow the new files
    for name, keys in zip(names, shards):
        write_safetensors(path / name, {k: state[k] for k in keys})
    if len(shards) > 1:
        total = sum(t.numel() * t.element_size() for t in state.values())
        write_json_atomic(path / INDEX_FILE, {"metadata": {"total_size": total},
                                              "weight_map": {k: n for n, keys in zip(names, shards) for k in keys}})
    for old in path.iterdir():
        if old.name not in names and (old.name == SINGLE_FILE or _SHARD_RE.match(old.name)):
            old.unlink()
    cfg = model.config
    write_config(path, cfg)
    eos = list(cfg.text.eos_token_id if generation_eos_ids is None else generation_eos_ids)
    gen: dict[str, Any] = {"eos_token_id": eos, "pad_token_id": cfg.text.pad_token_id}
    if cfg.text.bos_token_id is not None:
        gen["bos_token_id"] = cfg.text.bos_token_id
    write_json_atomic(path / GENERATION_CONFIG, gen)
    if tokenizer is not None:
        if not callable(getattr(tokenizer, "save", None)):
            raise TypeError(f"tokenizer of type {type(tokenizer).__name__} has no save(dir) method")
        tokenizer.save(path)


def require_model_dir(path: str | os.PathLike) -> Path:
    """`path` if it holds a checkpoint (config.json) or a LoRA adapter (adapter_config.json), else a clear error."""
    path = Path(path)
    if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(f"{path} has no config.json (a checkpoint) nor {ADAPTER_CONFIG} (a LoRA adapter); "
                                "expected a checkpoint or adapter directory")
    return path


# ---- LoRA adapter directories (mgrd.model.lora) ----------------------------------------------------
def load_with_adapter(path: str | os.PathLike, *, base: str | os.PathLike | None = None, depth: int = 0,
                      **load_kwargs: Any):
    """The base model of adapter directory `path` with the adapter merged in (eval mode): for inference.

    `load_kwargs` go to `load_pretrained` of the base (dtype, device, tokenizer_special_ids). A base
    that is itself an adapter directory is merged first (up to MAX_CHAIN deep).
    """
    if depth >= MAX_CHAIN:
        raise ValueError(f"adapter {path}: more than {MAX_CHAIN} adapter directories chained as bases "
                         "(a loop?); merge one with `mgrd merge-adapter` first")
    spec = read_adapter(path, base)
    if spec.base_sha256 is not None and config_sha256(spec.base) != spec.base_sha256:
        raise ValueError(f"adapter {spec.path} was trained on a different base model than {spec.base} "
                         "(its config or weights differ from the ones recorded in adapter_config.json)")
    if is_adapter_dir(spec.base):
        model = load_with_adapter(spec.base, depth=depth + 1, **load_kwargs)
    else:
        model = load_pretrained(spec.base, **load_kwargs)
    return merge_adapter(model, spec, *read_adapter_tensors(spec)).eval()


def read_adapter_tensors(spec: AdapterSpec) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, torch.Tensor]]:
    """(module name -> (A [r, in], B [out, r]), adaptor state dict) of an adapter directory, on CPU."""
    file = spec.path / ADAPTER_WEIGHTS
    if not file.is_file():
        raise FileNotFoundError(f"adapter {spec.path} has no {ADAPTER_WEIGHTS}")
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    with open_safetensors(file) as f:
        for key in f.keys():
            name = key.removeprefix(PEFT_PREFIX)
            module, _, part = name.rpartition(".lora_")
            if not key.startswith(PEFT_PREFIX) or part not in ("A.weight", "B.weight"):
                raise ValueError(f"{file}: unexpected tensor {key!r}; accepted: "
                                 f"{PEFT_PREFIX}<module>.lora_A.weight and .lora_B.weight")
            pairs.setdefault(module, {})[part[0]] = f.get_tensor(key)
    out = {}
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{file}: module {module} has lora_{''.join(ab)} but not both lora_A and lora_B")
        a, b = ab["A"], ab["B"]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != spec.rank or b.shape[1] != spec.rank:
            raise ValueError(f"{file}: {module} has A {list(a.shape)} and B {list(b.shape)}; expected "
                             f"[{spec.rank}, in] and [out, {spec.rank}] (r={spec.rank})")
        out[module] = (a, b)
    adaptor = {}
    if (spec.path / ADAPTOR_WEIGHTS).is_file():
        with open_safetensors(spec.path / ADAPTOR_WEIGHTS) as f:
            adaptor = {k: f.get_tensor(k) for k in f.keys()}
        wrong = [k for k in adaptor if not k.startswith("adapter.")]
        if wrong:
            raise ValueError(f"{spec.path / ADAPTOR_WEIGHTS} holds {wrong[:5]}; only the audio adaptor's "
                             "adapter.* weights belong there")
    return out, adaptor


def weight_files(path: str | os.PathLike) -> dict[str, Path]:
    """Checkpoint key -> safetensors file, from the index's weight_map or the single file."""
    path = Path(path)
    index = path / INDEX_FILE
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index} has no 'weight_map' of key -> shard file")
        for f in sorted(set(weight_map.values())):
            if not isinstance(f, str) or not f or Path(f).is_absolute() or ".." in Path(f).parts \
                    or "\\" in f:
                raise ValueError(f"{index} maps weights to {f!r}, which is not a file name inside {path}; shard "
                                 "entries must be paths relative to the checkpoint, without '..'")
        absent = sorted({f for f in weight_map.values() if not (path / f).is_file()})
        if absent:
            raise FileNotFoundError(f"{index} lists shard files that are missing from {path}: {absent}")
        return {k: path / f for k, f in weight_map.items()}
    if (path / SINGLE_FILE).is_file():
        with open_safetensors(path / SINGLE_FILE) as f:
            return {k: path / SINGLE_FILE for k in f.keys()}
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(f"{path} has only pickled weights ({', '.join(pickles[:5])}); only safetensors "
                         f"are accepted ({SINGLE_FILE} or {INDEX_FILE} + shards), pickles are never loaded")
    raise FileNotFoundError(f"no weights in {path}: expected {SINGLE_FILE} or {INDEX_FILE}")


def read_audio_token_ids(path: str | os.PathLike) -> AudioTokenIds | None:
    """Ids of the three audio tokens, by name, from tokenizer.json / added_tokens.json /
    tokenizer_config.json in `path` (plain JSON, no tokenizer code); None if no file names them."""
    path = Path(path)
    found: dict[str, dict[str, int]] = {}  # token -> {file: id}
    for file, table in _token_tables(path):
        for token in _AUDIO_TOKEN_NAMES.values():
            if token in table:
                found.setdefault(token, {})[file] = int(table[token])
    if not found:
        return None
    for token, by_file in found.items():
        if len(set(by_file.values())) > 1:
            raise ValueError(f"tokenizer files in {path} disagree on the id of {token}: {by_file}")
    absent = [t for t in _AUDIO_TOKEN_NAMES.values() if t not in found]
    if absent:
        raise ValueError(f"tokenizer files in {path} define some audio tokens but not {absent}")
    return AudioTokenIds(**{k: next(iter(found[t].values())) for k, t in _AUDIO_TOKEN_NAMES.items()})


def _token_tables(path: Path):
    """(file name, {token: id}) for each tokenizer JSON file present."""
    sources = {
        "added_tokens.json": lambda d: d,
        "tokenizer.json": lambda d: {t["content"]: t["id"] for t in d.get("added_tokens", [])},
        "tokenizer_config.json": lambda d: {t["content"]: int(i) for i, t in d.get("added_tokens_decoder", {}).items()},
    }
    for name, extract in sources.items():
        file = path / name
        if file.is_file():
            try:
                yield name, extract(json.loads(file.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise ValueError(f"cannot read token ids from {file}: {e}") from None


def _special_ids(obj: Any) -> AudioTokenIds | None:
    if obj is None:
        return None
    try:
        return AudioTokenIds.of(obj)
    except AttributeError:
        raise TypeError("tokenizer_special_ids needs attributes audio_start, audio_end, audio_patch") from None


@contextmanager
def open_safetensors(file: Path):
    """`safe_open(file)`; a corrupt or truncated file is a ValueError naming it, not a SafetensorError."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(file, framework="pt") as f:
            yield f
    except SafetensorError as e:
        raise ValueError(f"{file} is not a readable safetensors file (corrupt or truncated?): {e}") from None


def _check_shapes(by_file: dict[Path, list[str]], expected: dict[str, torch.Tensor]) -> None:
    wrong = []
    for file, keys in by_file.items():
        with open_safetensors(file) as f:
            present = set(f.keys())
            lost = [k for k in keys if k not in present]
            if lost:
                raise ValueError(f"{file.name} lacks keys its index assigns to it: {lost[:_LIST_LIMIT]}")
            for k in keys:
                shape = tuple(f.get_slice(k).get_shape())
                if shape != tuple(expected[k].shape):
                    wrong.append(f"{k}: checkpoint {list(shape)} vs model {list(expected[k].shape)}")
    if wrong:
        raise ValueError(f"{len(wrong)} shape mismatches between checkpoint and config: "
                         + "; ".join(wrong[:_LIST_LIMIT]))


def _load_files(model: AudioLM, by_file: dict[Path, list[str]], *, dtype: torch.dtype,
                device: str | torch.device, assign: bool) -> None:
    for file, keys in by_file.items():
        part = {}
        with open_safetensors(file) as f:
            for k in keys:
                t = f.get_tensor(k)
                part[k] = t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
        model.load_state_dict(part, strict=False, assign=assign)


def _plan_shards(state: dict[str, torch.Tensor], max_bytes: int) -> list[list[str]]:
    """Keys grouped in state-dict order into shards of at most max_bytes (a bigger tensor alone)."""
    if max_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_bytes}")
    shards: list[list[str]] = [[]]
    size = 0
    for k, t in state.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(k)
        size += nbytes
    return shards


def write_safetensors(file: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    cpu = {k: t.detach().to("cpu").contiguous() for k, t in tensors.items()}
    with atomic_path(file) as tmp:
        save_file(cpu, str(tmp), metadata={"format": "pt"})


def _listing(label: str, keys: list[str]) -> str:
    if not keys:
        return f"0 {label}"
    more = f" (+{len(keys) - _LIST_LIMIT} more)" if len(keys) > _LIST_LIMIT else ""
    return f"{len(keys)} {label}: {', '.join(keys[:_LIST_LIMIT])}{more}"
