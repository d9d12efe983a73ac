"""The PPO critic: a scalar value head on a copy of the actor's decoder (and its frozen audio path)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mgrd.model import AudioLM


class Critic(nn.Module):
    """V(prefix) for every position: a Linear(hidden, 1) on the last hidden states of an AudioLM copy.

    The copy starts from the actor's weights (the paper's PPO critic); its lm_head is unused and
    frozen, its encoder frozen as everywhere. The head starts at zero, so initial values are 0.
    """

    def __init__(self, actor: AudioLM) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(actor)
        self.backbone.set_trainable(encoder=False, adaptor=True, decoder=True)
        self.backbone.lm_head.weight.requires_grad_(False)
        hidden = self.backbone.text_config.hidden_size
        self.value_head = nn.Linear(hidden, 1, device=self.backbone.device)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: Tensor, audio_mels: Sequence[Tensor] | None = None, *,
                attention_mask: Tensor | None = None) -> Tensor:
        """input_ids [B, L] -> values [B, L] float32; values[:, t] estimates the return after token t."""
        embeds = self.backbone.embed(input_ids, audio_mels)
        hidden = self.backbone.model(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return self.value_head(hidden).squeeze(-1).float()
