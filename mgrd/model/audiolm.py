"""AudioLM: audio encoder + adaptor spliced into a Qwen2 decoder, with the official parameter names."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mgrd.model.adaptor import AudioAdaptor
from mgrd.model.config import AudioLMConfig, AudioTokenIds, TextConfig
from mgrd.model.encoder import AudioEncoder


def _detect_cache_kwarg() -> str:
    """The KV-cache keyword of Qwen2ForCausalLM.forward: `cache` (new) or `past_key_values` (old)."""
    from transformers import Qwen2ForCausalLM

    params = inspect.signature(Qwen2ForCausalLM.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


CACHE_KWARG = _detect_cache_kwarg()


def output_cache(output):
    """The KV cache of a transformers model output, under whichever name this version uses."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


class AudioLM(nn.Module):
    """Step-Audio-2-family model assembled from an encoder, an adaptor and a Qwen2ForCausalLM.

    The state dict has exactly the checkpoint names `encoder.*`, `adapter.*`, `model.*`,
    `lm_head.weight`: the decoder's `model` and `lm_head` are registered here directly, while the
    Qwen2ForCausalLM itself is kept unregistered and used for its forward.
    """

    def __init__(self, encoder: AudioEncoder, adaptor: AudioAdaptor, decoder, *,
                 audio_token_ids: AudioTokenIds, freeze_encoder: bool = True):
        super().__init__()
        self.encoder = encoder
        self.adapter = adaptor
        self.model = decoder.model
        self.lm_head = decoder.lm_head
        object.__setattr__(self, "_decoder", decoder)  # not a registered child: no `decoder.` prefix
        self.audio_token_ids = audio_token_ids
        self._encoder_trainable = True
        AudioLMConfig(text=self.text_config, encoder=encoder.cfg, adaptor=adaptor.cfg,
                      audio_token_ids=audio_token_ids)  # validates that the parts fit together
        if freeze_encoder:
            self.set_trainable(encoder=False, adaptor=True, decoder=True)

    # ---- parts and properties -------------------------------------------------------------
    @property
    def decoder(self):
        """The transformers Qwen2ForCausalLM whose `model` and `lm_head` this module holds."""
        return self._decoder

    @property
    def text_config(self) -> TextConfig:
        return TextConfig.from_qwen2_config(self._decoder.config, torch_dtype=_dtype_name(self.dtype))

    @property
    def config(self) -> AudioLMConfig:
        return AudioLMConfig(text=self.text_config, encoder=self.encoder.cfg, adaptor=self.adapter.cfg,
                             audio_token_ids=self.audio_token_ids)

    @property
    def device(self) -> torch.device:
        return self.model.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embed_tokens.weight.dtype

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts: {"encoder", "adaptor", "decoder", "total"}."""
        counts = {"encoder": _count(self.encoder), "adaptor": _count(self.adapter),
                  "decoder": _count(self.model) + _count(self.lm_head)}
        counts["total"] = sum(counts.values())
        return counts

    # ---- training switches ----------------------------------------------------------------
    def set_trainable(self, *, encoder: bool = False, adaptor: bool = True, decoder: bool = True) -> None:
        """Set requires_grad per part; a frozen encoder also stays in eval mode."""
        for part, flag in ((self.encoder, encoder), (self.adapter, adaptor), (self.model, decoder),
                           (self.lm_head, decoder)):
            for p in part.parameters():
                p.requires_grad_(flag)
        self._encoder_trainable = encoder
        self.encoder.train(self.training and encoder)

    def train(self, mode: bool = True) -> AudioLM:
        super().train(mode)
        self._decoder.training = mode
        if not self._encoder_trainable:
            self.encoder.eval()
        return self

    # ---- audio ----------------------------------------------------------------------------
    def encode_audio(self, audio_mels: Sequence[Tensor], *, batched: bool = True) -> list[Tensor]:
        """Adaptor outputs per chunk: mels [n_mels, T_i] each -> [N_i, hidden_size] each.

        N_i = ((T_i + 1) // 4 - 1) // 2 + 1. batched=True encodes all chunks as one zero-padded
        batch with length masking (as the official server does for one request); batched=False
        encodes each chunk alone. Chunks with N_i = 0 give empty [0, H] tensors.
        """
        lens = torch.tensor([m.shape[-1] for m in audio_mels], dtype=torch.long)
        n_tokens = self.adapter.output_lengths(self.encoder.output_lengths(lens))
        out: list[Tensor | None] = [None] * len(audio_mels)
        todo = [i for i in range(len(audio_mels)) if n_tokens[i] > 0]
        groups = [todo] if batched and todo else [[i] for i in todo]
        for group in groups:
            feats = self._encode_group([audio_mels[i] for i in group], lens[group])
            for row, i in enumerate(group):
                out[i] = feats[row, : int(n_tokens[i])]
        empty = torch.zeros(0, self.adapter.cfg.llm_dim, dtype=self.dtype, device=self.device)
        return [o if o is not None else empty for o in out]

    def _encode_group(self, mels: list[Tensor], lens: Tensor) -> Tensor:
        enc_dtype = self.encoder.conv1.weight.dtype
        device = self.encoder.conv1.weight.device
        batch = torch.zeros(len(mels), self.encoder.cfg.n_mels, int(lens.max()), dtype=enc_dtype, device=device)
        for row, m in enumerate(mels):
            if m.dim() != 2 or m.shape[0] != self.encoder.cfg.n_mels:
                raise ValueError(f"each audio chunk must be [{self.encoder.cfg.n_mels}, T] log-mels, "
                                 f"got {tuple(m.shape)}")
            batch[row, :, : m.shape[-1]] = m.to(device=device, dtype=enc_dtype)
        x, enc_lens = self.encoder(batch, lens.to(device))
        y, _ = self.adapter(x, enc_lens)
        return y

    def embed(self, input_ids: Tensor, audio_mels: Sequence[Tensor] | None = None, *,
              batched: bool = True) -> Tensor:
        """input_ids [B, L] -> inputs_embeds [B, L, H] with `<audio_patch>` rows replaced by audio.

        `audio_mels` lists every chunk of the batch in row-major order (sample 0's chunks first);
        their features fill the patch positions in that order.
        """
        embeds = self.model.embed_tokens(input_ids)
        patch = input_ids == self.audio_token_ids.patch
        n_patch = int(patch.sum())
        if not audio_mels:
            if n_patch:
                raise ValueError(f"input_ids hold {n_patch} <audio_patch> positions but no audio was given")
            return embeds
        feats = self.encode_audio(audio_mels, batched=batched)
        n_feat = sum(f.shape[0] for f in feats)
        if n_feat != n_patch:
            raise ValueError(f"input_ids hold {n_patch} <audio_patch> positions but the audio gives "
                             f"{n_feat} features ({[f.shape[0] for f in feats]} per chunk)")
        flat = torch.cat(feats).to(device=embeds.device, dtype=embeds.dtype)
        return embeds.masked_scatter(patch.unsqueeze(-1), flat)

    # ---- language model -------------------------------------------------------------------
    def forward(self, input_ids: Tensor, audio_mels: Sequence[Tensor] | None = None, *,
                attention_mask: Tensor | None = None, position_ids: Tensor | None = None,
                cache=None, use_cache: bool = False, logits_to_keep: int | Tensor = 0,
                last_only: bool = False, float_logits: bool = True, head_fn=None):
        """input_ids [B, L] (+ audio chunks in the prefill) -> CausalLMOutputWithPast.

        logits are [B, L or logits_to_keep, V], float32 (`float_logits=False`: the model's dtype);
        the KV cache is the output's `.cache` (or `.past_key_values` on older transformers;
        `output_cache()` reads either). `last_only=True` (decoding) computes and casts the last
        position's logits only, [B, 1, V].

        `head_fn(hidden [B, L, H], lm_head)`: when given, the last hidden states go to it instead of
        the lm_head and forward returns its result. A loss that needs log-probabilities of a few
        tokens so never forms [B, L, V] logits, and it runs inside forward, where FSDP has the
        lm_head's parameters gathered.
        """
        if last_only:
            logits_to_keep = 1
        inputs_embeds = self.embed(input_ids, audio_mels)
        if head_fn is not None:
            hidden = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                position_ids=position_ids, use_cache=False).last_hidden_state
            return head_fn(hidden, self.lm_head)
        out = self._decoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            position_ids=position_ids, use_cache=use_cache,
                            logits_to_keep=logits_to_keep, **{CACHE_KWARG: cache})
        if float_logits:
            out.logits = out.logits.float()
        return out


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
