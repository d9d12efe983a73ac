"""`mgrd init-tiny`, `mgrd info`, `mgrd merge-adapter`, `mgrd export-text-base` and `mgrd export-base`: make a
random tiny checkpoint, describe any checkpoint, merge a LoRA adapter into its base, export a decoder as a text
base or a whole model as an audio base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mgrd.cli.errors import user_errors

console = Console()


def init_tiny(
    out: Annotated[Path, typer.Argument(help="directory to create")],
    seed: Annotated[int, typer.Option(help="initialisation seed")] = 0,
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size of the tokenizer")] = 2048,
    force: Annotated[bool, typer.Option(help="overwrite an existing checkpoint")] = False,
) -> None:
    """Write a random tiny checkpoint (official layout + a small BPE tokenizer)."""
    from mgrd.chat import train_tokenizer
    from mgrd.chat.corpus import tiny_corpus
    from mgrd.model import AudioTokenIds, build_model, save_pretrained, tiny_config

    with user_errors():
        if (out / "config.json").exists() and not force:
            raise ValueError(f"{out} already holds a checkpoint; pass --force to overwrite it")
        tokenizer = train_tokenizer(tiny_corpus(), vocab_size=vocab_size)
        special = tokenizer.special
        config = tiny_config(
            -(-tokenizer.vocab_size // 64) * 64,  # embedding rows padded, as released checkpoints do
            audio_token_ids=AudioTokenIds.of(special),
            eos_token_ids=(special.eot, special.endoftext), pad_token_id=special.endoftext)
        model = build_model(config, seed=seed)
        save_pretrained(model, out, tokenizer=tokenizer)
    total = sum(p.numel() for p in model.parameters())
    console.print(f"wrote a random tiny checkpoint ({total / 1e6:.2f} M parameters) to {out}")


def _tensor_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    from mgrd.model.checkpoint import open_safetensors, weight_files

    shapes = {}
    for file in sorted(set(weight_files(model_dir).values())):
        with open_safetensors(file) as f:
            for key in f.keys():
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def info(model: Annotated[Path, typer.Option("--model", help="checkpoint directory")]) -> None:
    """Config summary, parameter counts and special tokens of a checkpoint."""
    from mgrd.model import read_config

    with user_errors():
        if not (model / "config.json").exists():
            raise FileNotFoundError(f"{model} has no config.json; expected a checkpoint directory")
        cfg = read_config(model)
        shapes = _tensor_shapes(model)
    t, e, a = cfg.text, cfg.encoder, cfg.adaptor
    table = Table(title=f"{model}", show_header=False)
    table.add_row("decoder", f"Qwen2 hidden {t.hidden_size}, {t.num_hidden_layers} layers, "
                  f"{t.num_attention_heads} heads / {t.num_key_value_heads} kv, ffn {t.intermediate_size}, "
                  f"vocab {t.vocab_size}, rope θ {t.rope_theta:g}")
    table.add_row("audio encoder", f"d {e.n_audio_state}, {e.n_audio_layer} layers, {e.n_audio_head} heads, "
                  f"{e.n_mels} mels, {e.n_audio_ctx} positions")
    table.add_row("adaptor", f"{a.n_audio_state} → {a.adapter_state} → {a.llm_dim}, stride {a.adapter_stride}")
    parts = {"encoder": 0, "adapter": 0, "model": 0, "lm_head": 0}
    for key, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        parts[key.split(".")[0]] = parts.get(key.split(".")[0], 0) + n
    for part, n in parts.items():
        table.add_row(f"parameters: {part}", f"{n:,}")
    table.add_row("parameters: total", f"{sum(parts.values()):,}")
    ids = cfg.audio_token_ids
    table.add_row("audio tokens", f"<audio_start> {ids.start}, <audio_end> {ids.end}, <audio_patch> {ids.patch}")
    if (model / "tokenizer.json").exists():
        from mgrd.chat import Tokenizer

        with user_errors():
            special = Tokenizer.from_dir(model).special
        table.add_row("special tokens", ", ".join(f"{k} {v}" for k, v in vars(special).items()))
    console.print(table)


def merge_adapter(
    adapter_dir: Annotated[Path, typer.Argument(help="LoRA adapter directory (adapter_config.json)")],
    out: Annotated[Path, typer.Option("--out", help="directory of the merged checkpoint")],
    base: Annotated[Path | None, typer.Option(help="base checkpoint (default: the adapter's "
                                                   "base_model_name_or_path)")] = None,
    dtype: Annotated[str, typer.Option(help="auto (the base's dtype), float32 or bfloat16")] = "auto",
    force: Annotated[bool, typer.Option(help="replace an existing directory at --out")] = False,
) -> None:
    """Merge a LoRA adapter into its base: a full checkpoint in the official layout (written whole, then moved in)."""
    import shutil

    from mgrd.chat import Tokenizer
    from mgrd.model import save_pretrained
    from mgrd.model.checkpoint import load_with_adapter

    with user_errors():
        if out.exists() and not force:
            raise ValueError(f"{out} already exists; pass --force to replace it")
        tokenizer = Tokenizer.from_dir(adapter_dir if (adapter_dir / "tokenizer.json").is_file() else
                                       (base or adapter_dir))
        model = load_with_adapter(adapter_dir, base=base, dtype=dtype, tokenizer_special_ids=tokenizer.special)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".tmp-{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        save_pretrained(model, tmp, tokenizer=tokenizer)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    console.print(f"merged {adapter_dir} into {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
                  "parameters)")


def export_text_base(
    model_dir: Annotated[Path, typer.Argument(help="checkpoint directory (official layout) whose decoder to export")],
    out: Annotated[Path, typer.Option("--out", help="new directory of the text base")],
    dtype: Annotated[str, typer.Option(help="bfloat16 or float32")] = "bfloat16",
    note: Annotated[str, typer.Option(help="how the checkpoint was made, kept in MANIFEST.json")] = "",
) -> None:
    """Export a checkpoint's decoder and tokenizer as a text base for a recipe's `model.text_base`."""
    from mgrd.pipeline.text_base import export

    with user_errors():
        base = export(model_dir, out, made_by={"note": note} if note else None, dtype=dtype)
    console.print(f"text base {out}: {base.manifest['parameters'] / 1e6:.2f} M decoder parameters in {dtype}, "
                  f"sha256 {base.digest[:16]}…")


def export_base(
    model_dir: Annotated[Path, typer.Argument(help="checkpoint directory (official layout) to export whole")],
    out: Annotated[Path, typer.Option("--out", help="new directory of the audio base")],
    probes: Annotated[Path | None, typer.Option(help="the encoder stage's probes.json, kept with the base")] = None,
    dtype: Annotated[str, typer.Option(help="bfloat16 or float32")] = "bfloat16",
    note: Annotated[str, typer.Option(help="how the checkpoint was made, kept in MANIFEST.json")] = "",
) -> None:
    """Export a whole checkpoint (encoder, adaptor, decoder, tokenizer) as an audio base for `model.base`."""
    from mgrd.pipeline.audio_base import export

    with user_errors():
        base = export(model_dir, out, probes=probes, made_by={"note": note} if note else None, dtype=dtype)
    console.print(f"audio base {out}: {base.manifest['parameters'] / 1e6:.2f} M parameters in {dtype}, "
                  f"sha256 {base.manifest['sha256'][:16]}…")
