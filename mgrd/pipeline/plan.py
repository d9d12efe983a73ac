"""`mgrd plan train`: per-process memory of every training stage of a recipe at its real shapes, by arithmetic.

The model is sized exactly (built on the meta device from its config); the rest is counted per
rank under FSDP2 over N processes:

- params: float32 master weights, sharded (4 bytes / N per parameter); grads and AdamW's two
  states: float32, sharded, trainable parameters only (the encoder is frozen);
- gathered: what FSDP2 holds unsharded at once in the compute dtype: the root group (embeddings,
  lm_head, encoder, adaptor, final norm) for the whole step, two decoder layers (the current and
  the prefetched one), and their unsharded gradients before the reduce-scatter;
- activations: one micro-batch of max_length tokens: every decoder layer's saved tensors without
  checkpointing; with it, one hidden state per layer plus one layer recomputed; plus the chunked
  log-prob logits ([chunk, V] float32, three of them: logits, log-softmax, gradient);
- rollout (PPO): the gathered replica the engine decodes from (compute dtype, full; none on one
  process, where the engine shares the policy) and the KV cache of rollout_batch_size sequences
  of max_length tokens.
- LoRA (a stage's `lora` section, or `--lora-rank` for every stage): the frozen base keeps its sharded
  float32 weights, and grads and AdamW states exist for the adapters only: r·(in + out) per targeted
  projection; no reference model (the policy with adapters off stands for it); a rollout replica on
  one process too (the engine reads merged weights). The adapters' own activations (r per token
  and projection) are left out.

Validated against the measured peak of a small model's SFT step on CPU (tests/pipeline/test_pipeline_plan.py).
"""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024 ** 3
USABLE = 0.90          # of a GPU's memory a step may use (CUDA context, allocator fragmentation)


@dataclass(frozen=True)
class Shapes:
    """The parameter counts and sizes the arithmetic needs, read from an AudioLMConfig."""

    total: int              # all parameters
    trainable: int          # decoder + adaptor (the encoder is frozen)
    root: int               # parameters outside the decoder layers (FSDP2's root group)
    root_trainable: int
    layer: int              # one decoder layer
    lm_head: int
    hidden: int
    intermediate: int
    layers: int
    kv: int                 # num_key_value_heads x head_dim
    vocab: int

    @classmethod
    def of(cls, config) -> Shapes:
        from mgrd.model import empty_model

        model = empty_model(config, device="meta")
        count = lambda m: sum(p.numel() for p in m.parameters())
        t = config.text
        layer = count(model.model.layers[0])
        encoder = count(model.encoder)
        total = count(model)
        root = total - layer * t.num_hidden_layers
        return cls(total=total, trainable=total - encoder, root=root, root_trainable=root - encoder, layer=layer,
                   lm_head=count(model.lm_head), hidden=t.hidden_size, intermediate=t.intermediate_size,
                   layers=t.num_hidden_layers, kv=t.num_key_value_heads * (t.hidden_size // t.num_attention_heads),
                   vocab=t.vocab_size)


@dataclass(frozen=True)
class Setup:
    """How a stage runs: processes, compute dtype bytes, activation checkpointing."""

    gpus: int
    compute_bytes: int = 2          # bf16 under mixed precision on GPU; 4 on CPU
    checkpointing: bool = True
    chunk: int = 1024
    lora_rank: int = 0              # 0: full fine-tuning
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_layer_params(s: Shapes, rank: int, targets: tuple[str, ...]) -> int:
    """Adapter parameters of one decoder layer: rank · (in + out) of each targeted projection."""
    kv = {"q_proj": 2 * s.hidden, "k_proj": s.hidden + s.kv, "v_proj": s.hidden + s.kv, "o_proj": 2 * s.hidden,
          "gate_proj": s.hidden + s.intermediate, "up_proj": s.hidden + s.intermediate,
          "down_proj": s.intermediate + s.hidden}
    return rank * sum(kv[t] for t in targets)


def layer_activation_elements(s: Shapes) -> int:
    """Elements a Qwen2 layer saves per token for backward: norm inputs and outputs (4H), q/k/v (H + 2KV),
    the attention output (H), gate, up, silu(gate) and their product (4I)."""
    return 6 * s.hidden + 2 * s.kv + 4 * s.intermediate


def model_bytes(s: Shapes, n: int, *, trainable: bool, critic: bool = False, adapters: int = 0) -> dict[str, float]:
    """Sharded float32 state of one model: params, and for a trained one grads and AdamW states
    (`adapters` > 0: LoRA, those parameters alone train)."""
    total = s.total - (s.lm_head if critic else 0) + adapters
    train = adapters if adapters else s.trainable - (s.lm_head if critic else 0)
    return {"params": 4.0 * total / n, "grads": 4.0 * train / n if trainable else 0.0,
            "optimizer": 8.0 * train / n if trainable else 0.0}


def gathered_bytes(s: Shapes, setup: Setup, *, trainable: bool) -> float:
    if setup.gpus <= 1:
        return 0.0     # one process: the parameters are used where they are
    lora = lora_layer_params(s, setup.lora_rank, setup.lora_targets)
    unsharded = (s.root + 2 * (s.layer + lora)) * setup.compute_bytes
    grads = ((lora if lora else s.root_trainable + s.layer) * 4.0) if trainable else 0.0
    return unsharded + grads


def activation_bytes(s: Shapes, setup: Setup, tokens: int, *, checkpointing: bool, logits: bool = True) -> float:
    """Saved activations of `tokens` tokens through the decoder (one micro-batch), and the log-prob chunk."""
    b = setup.compute_bytes
    per_layer = layer_activation_elements(s) * b + 2 * s.hidden * 4      # + the norms' float32 copies
    if checkpointing:
        acts = tokens * (s.layers * s.hidden * b + per_layer)
    else:
        acts = tokens * s.layers * per_layer
    acts += tokens * s.hidden * (b + 4)            # final norm and the hidden states that meet the lm_head
    if logits:
        acts += 3.0 * min(setup.chunk, tokens) * s.vocab * 4
    return acts


def kv_cache_bytes(s: Shapes, sequences: int, length: int, dtype_bytes: int) -> float:
    return 2.0 * s.layers * s.kv * length * sequences * dtype_bytes


def sft_memory(s: Shapes, setup: Setup, *, micro: int, max_length: int, reference: bool = False) -> dict[str, float]:
    """An SFT step (reference=True: DPO, with a frozen sharded reference and pairs of sequences)."""
    adapters = lora_layer_params(s, setup.lora_rank, setup.lora_targets) * s.layers
    out = model_bytes(s, setup.gpus, trainable=True, adapters=adapters)
    if reference and not adapters:
        out["params"] += model_bytes(s, setup.gpus, trainable=False)["params"]
    out["gathered"] = gathered_bytes(s, setup, trainable=True)
    tokens = micro * max_length * (2 if reference else 1)
    out["activations"] = activation_bytes(s, setup, tokens, checkpointing=setup.checkpointing)
    out["activations_no_ckpt"] = activation_bytes(s, setup, tokens, checkpointing=False)
    out["activations_ckpt"] = activation_bytes(s, setup, tokens, checkpointing=True)
    out["rollout"] = 0.0
    return out


def ppo_memory(s: Shapes, setup: Setup, *, micro: int, max_length: int, rollout_batch: int,
               kl: bool, critic: bool = True) -> dict[str, float]:
    """A PPO iteration's peak: the actor and, with GAE (`critic`), the critic (no lm_head) trained
    (GRPO has none), reference only when kl_coef > 0 (with adapters: the base with adapters off),
    the rollout replica and its KV cache (held during rollouts, which do not overlap the update:
    the larger of the two phases counts)."""
    adapters = lora_layer_params(s, setup.lora_rank, setup.lora_targets) * s.layers
    out = model_bytes(s, setup.gpus, trainable=True, adapters=adapters)
    if critic:
        value = model_bytes(s, setup.gpus, trainable=True, critic=True, adapters=adapters)
        out = {k: out[k] + value[k] for k in out}
    if kl and not adapters:
        out["params"] += model_bytes(s, setup.gpus, trainable=False)["params"]
    out["gathered"] = gathered_bytes(s, setup, trainable=True)
    tokens = micro * max_length
    for key, ckpt in (("activations", setup.checkpointing), ("activations_no_ckpt", False), ("activations_ckpt", True)):
        # actor (with log-prob chunk) then critic, each freed after its backward: the actor's, the larger, counts
        out[key] = activation_bytes(s, setup, tokens, checkpointing=ckpt)
    replica = s.total * setup.compute_bytes if setup.gpus > 1 or adapters else 0.0
    kv = kv_cache_bytes(s, rollout_batch, max_length, setup.compute_bytes)
    # rollouts run between updates: replica + KV against gathered + activations
    out["rollout"] = replica + max(0.0, kv - out["activations"] - out["gathered"])
    return out


def total(parts: dict[str, float]) -> float:
    return sum(v for k, v in parts.items() if k not in ("activations_no_ckpt", "activations_ckpt"))


# ---- recipes ------------------------------------------------------------------------------------------
PRESETS = {  # text shapes of the released checkpoints (reference: step-audio-format.md, section 1.2)
    "r1": dict(hidden=5120, intermediate=27648, layers=64, heads=40, kv_heads=8),
    "mini": dict(hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4),
}


def preset_config(name: str):
    """The AudioLMConfig of Step-Audio-R1 (`r1`, 33B) or Step-Audio-2-mini (`mini`, 8B), vocabulary 158,720."""
    from mgrd.model import AudioTokenIds
    from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig

    if name not in PRESETS:
        raise ValueError(f"no model shapes {name!r}; accepted: {', '.join(PRESETS)}")
    p = PRESETS[name]
    text = TextConfig(vocab_size=158720, hidden_size=p["hidden"], intermediate_size=p["intermediate"],
                      num_hidden_layers=p["layers"], num_attention_heads=p["heads"], num_key_value_heads=p["kv_heads"],
                      rope_theta=1e6, max_position_embeddings=65536)
    return AudioLMConfig(text=text, encoder=EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=1280,
                                                          n_audio_head=20, n_audio_layer=32),
                         adaptor=AdaptorConfig(llm_dim=p["hidden"], n_audio_state=1280, adapter_state=2048),
                         audio_token_ids=AudioTokenIds(151688, 151689, 151690))


def recipe_config(recipe, shapes: str = "r1"):
    """The model config a recipe trains: model.base's config.json if it exists, the recipe's own tiny
    sizes when it builds one, else the `shapes` preset (a placeholder base path)."""
    from mgrd.model import read_config
    from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig
    from mgrd.model import AudioTokenIds
    from mgrd.pipeline.audio_base import locate

    m = recipe.model
    base = locate(m.base) if m.base else None
    if base is not None and (base / "config.json").is_file():
        return read_config(base), f"{m.base}/config.json"
    if m.base:
        return preset_config(shapes), f"{shapes} shapes (model.base {m.base} is not here)"
    vocab = -(-m.vocab_size // 64) * 64
    text = TextConfig(vocab_size=vocab, hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
                      num_hidden_layers=m.layers, num_attention_heads=m.heads, num_key_value_heads=m.kv_heads)
    return AudioLMConfig(text=text, encoder=EncoderConfig(n_mels=128, n_audio_ctx=1500, n_audio_state=m.encoder_dim,
                                                          n_audio_head=m.encoder_heads, n_audio_layer=m.encoder_layers),
                         adaptor=AdaptorConfig(llm_dim=m.hidden_size, n_audio_state=m.encoder_dim,
                                               adapter_state=m.adaptor_dim),
                         audio_token_ids=AudioTokenIds(vocab - 3, vocab - 2, vocab - 1)), "the recipe's model sizes"


def stage_memory(cfg, s: Shapes, setup: Setup) -> dict[str, float] | None:
    """Per-rank bytes of one stage's trainer config (None: a stage the planner does not size); the
    stage's own lora section wins over setup.lora_rank."""
    from mgrd.training.config import DPOConfig, PPOConfig, SFTConfig

    n = setup.gpus
    lora = getattr(cfg, "lora", None)
    rank, targets = (lora.rank, tuple(lora.target_modules)) if lora else (setup.lora_rank, setup.lora_targets)
    setup = Setup(n, setup.compute_bytes, cfg.run.activation_checkpointing, getattr(cfg, "logprob_chunk", setup.chunk),
                  rank, targets)
    if isinstance(cfg, SFTConfig):
        return sft_memory(s, setup, micro=cfg.micro_batch_size or -(-cfg.batch_size // n), max_length=cfg.max_length)
    if isinstance(cfg, DPOConfig):
        return sft_memory(s, setup, micro=cfg.micro_batch_size or -(-cfg.batch_size // n), max_length=cfg.max_length,
                          reference=True)
    if isinstance(cfg, PPOConfig):
        return ppo_memory(s, setup, micro=cfg.micro_batch_size or -(-cfg.minibatch_size // n),
                          max_length=cfg.max_length, rollout_batch=cfg.rollout_batch_size, kl=cfg.kl_coef > 0,
                          critic=cfg.advantage == "gae")
    return None


def plan_recipe(recipe, s: Shapes, *, gpus: int, compute_bytes: int = 2, lora_rank: int = 0) -> dict[str, dict]:
    """stage -> per-rank bytes by part, with the recipe's activation checkpointing (stages the planner does
    not size, the tiny encoder pretraining, are left out); lora_rank > 0: every stage with LoRA adapters."""
    from mgrd.pipeline.trainer_configs import stage_configs

    setup = Setup(gpus, compute_bytes, lora_rank=lora_rank)
    out = {}
    for name, cfg in stage_configs(recipe).items():
        parts = stage_memory(cfg, s, setup)
        if parts is not None:
            out[name] = parts
    return out


def smallest_fit(recipe, s: Shapes, *, gpu_bytes: float, limit: int = 4096, lora_rank: int = 0) -> int | None:
    """The fewest processes at which every stage fits, or None up to `limit`."""
    n = 1
    while n <= limit:
        plans = plan_recipe(recipe, s, gpus=n, lora_rank=lora_rank)
        if all(total(p) <= USABLE * gpu_bytes for p in plans.values()):
            return n
        n += 1 if n < 8 else 8
    return None
