"""The PPO critic: a scalar value head on the actor's starting decoder (and its frozen audio path), no lm_head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mgrd.model import AudioLM


class Critic(nn.Module):
    """V(prefix) for every position: a Linear(hidden, 1) on the last hidden states of an AudioLM.

    `backbone` is the critic's own AudioLM, loaded from the actor's starting checkpoint (the
    paper's PPO critic); the critic takes it over and drops its lm_head (a critic never scores
    tokens: at V = 158,720 that is 0.8 B parameters not kept, trained or sharded). Its encoder is
    frozen as everywhere. The head starts at zero, so initial values are 0.
    """

    def __init__(self, backbone: AudioLM) -> None:
        super().__init__()
        self.backbone = backbone
        backbone.lm_head = nn.Identity()
        backbone.decoder.lm_head = backbone.lm_head
        self.backbone.set_trainable(encoder=False, adaptor=True, decoder=True)
        hidden = self.backbone.text_config.hidden_size
        self.value_head = nn.Linear(hidden, 1, device=self.backbone.device)
        self.reset_value_head()

    @torch.no_grad()
    def reset_value_head(self) -> None:
        self.value_head.weight.zero_()
        self.value_head.bias.zero_()

    def forward(self, input_ids: Tensor, audio_mels: Sequence[Tensor] | None = None, *,
                attention_mask: Tensor | None = None) -> Tensor:
        """input_ids [B, L] -> values [B, L] float32; values[:, t] estimates the return after token t."""
        embeds = self.backbone.embed(input_ids, audio_mels)
        hidden = self.backbone.model(inputs_embeds=embeds, attention_mask=attention_mask,
                                     use_cache=False).last_hidden_state
        return self.value_head(hidden).squeeze(-1).float()
