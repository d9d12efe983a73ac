"""Trainers (layer L4): pure losses and advantages, rewards, rollouts, SFT, PPO, DPO, encoder pretraining."""

from mgrd.training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from mgrd.training.config import (DPOConfig, EncoderPretrainConfig, OptimConfig, PPOConfig, RunConfig, SFTConfig,
                                  SourceConfig, load_config)
from mgrd.training.dpo import train_dpo
from mgrd.training.encoder_pretrain import train_encoder
from mgrd.training.ppo import train_ppo
from mgrd.training.rewards import Reward, RewardWeights, audio_reward, modality_reward, reward_function, text_reward
from mgrd.training.rollout import NativeRollout, RolloutBackend
from mgrd.training.sft import TrainResult, train_sft

__all__ = [
    "CheckpointError", "DPOConfig", "EncoderPretrainConfig", "NativeRollout", "OptimConfig", "PPOConfig", "Reward",
    "RewardWeights", "RolloutBackend", "RunConfig", "SFTConfig", "SourceConfig", "TrainResult", "audio_reward",
    "latest_checkpoint", "load_checkpoint", "load_config", "modality_reward", "reward_function", "text_reward",
    "train_dpo", "train_encoder", "train_ppo", "train_sft",
]
