"""Measure the peak resident memory of one SFT step of a small AudioLM on CPU (run as a script by test_pipeline_plan.py).

Arguments: hidden intermediate layers vocab tokens batch checkpointing(0/1). Prints {"peak": bytes above the
resident size before the model was built}. The peak is VmHWM, reset through /proc/self/clear_refs (Linux).
"""
import json, sys, torch
from functools import partial
torch.set_num_threads(1)
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
from mgrd.model import AudioTokenIds, build_model
from mgrd.model.config import AdaptorConfig, AudioLMConfig, EncoderConfig, TextConfig
from mgrd.training.losses import selective_logprobs, masked_sum
from mgrd.training.distributed import checkpoint_layers
from mgrd.training.optim import build_optimizer
from mgrd.training.config import OptimConfig
H, I, L, V, T, B, ckpt = [int(x) for x in sys.argv[1:8]]
def config(h, i, l, v):
    return AudioLMConfig(text=TextConfig(vocab_size=v, hidden_size=h, intermediate_size=i, num_hidden_layers=l,
                          num_attention_heads=4, num_key_value_heads=2, torch_dtype="float32", max_position_embeddings=4096),
                         encoder=EncoderConfig(n_mels=128, n_audio_ctx=64, n_audio_state=32, n_audio_head=2, n_audio_layer=1),
                         adaptor=AdaptorConfig(llm_dim=h, n_audio_state=32, adapter_state=64),
                         audio_token_ids=AudioTokenIds(v - 3, v - 2, v - 1))
def step(model, opt, T, B, chunk=1024):
    ids = torch.randint(0, 100, (B, T))
    mask = torch.ones(B, T)
    logp, _ = model(ids, head_fn=partial(selective_logprobs, labels=ids.roll(-1, 1), mask=mask, chunk=chunk))
    (-masked_sum(logp, mask) / mask.sum()).backward()
    opt.step(); opt.zero_grad(set_to_none=True)
warm = build_model(config(32, 64, 1, 256), seed=0).train()
step(warm, build_optimizer(warm, OptimConfig()), 64, 2)
del warm
open("/proc/self/clear_refs", "w").write("5")
base = rss("VmRSS")
model = build_model(config(H, I, L, V), seed=0).train()
model.set_trainable(encoder=False, adaptor=True, decoder=True)
if ckpt:
    checkpoint_layers(model)
opt = build_optimizer(model, OptimConfig())
step(model, opt, T, B)
peak = rss("VmHWM") - base
print(json.dumps({"peak": peak, "base": base}))
