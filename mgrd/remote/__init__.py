"""OpenAI-compatible endpoints over HTTP (layer L3): JSON POST with bounded retries, content-hash keyed
record stores, and the one LLM judge client that evaluation and the training filters share."""

from mgrd.remote.judge import Judge, JudgeFailed
from mgrd.remote.retry import RequestFailed, RetryPolicy, post_json
from mgrd.remote.store import RecordStore, stable_hash

__all__ = ["Judge", "JudgeFailed", "RecordStore", "RequestFailed", "RetryPolicy", "post_json", "stable_hash"]
