"""An OpenAI-compatible HTTP server for Step-Audio-R1-family models (layer L5)."""

from mgrd.serving.app import create_app
from mgrd.serving.errors import APIError
from mgrd.serving.server import serve
from mgrd.serving.settings import REASONING_EFFORT_BUDGETS, ServerSettings
from mgrd.serving.worker import BatchWorker, QueueFull

__all__ = ["APIError", "BatchWorker", "QueueFull", "REASONING_EFFORT_BUDGETS", "ServerSettings", "create_app",
           "serve"]
