"""POSTing JSON with bounded retries: 429, 5xx and connection errors back off and retry; other 4xx never do."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` tries; the delay before try k+1 is min(max_delay, base_delay·2^(k-1)),
    jittered to between half and all of it, or the server's Retry-After when that is shorter than max_delay."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry policy needs max_attempts >= 1 and non-negative delays")

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        if retry_after is not None and 0 <= retry_after <= self.max_delay:
            return retry_after
        full = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return full * (0.5 + 0.5 * (rng or random).random())


class RequestFailed(Exception):
    """A request that did not produce a usable response; `retryable` says whether trying again could help."""

    def __init__(self, message: str, *, retryable: bool, attempts: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.attempts = attempts
        self.status = status


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and 5xx (server trouble) are worth retrying; other errors are the request's fault."""
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
        return str(message or body)[:300]
    except ValueError:
        return response.text[:300]


def post_json(client: httpx.Client, url: str, body: dict, policy: RetryPolicy, *,
              sleep: Callable[[float], None] = time.sleep) -> tuple[dict, int]:
    """The JSON reply to `body` and the number of tries it took; raises `RequestFailed`."""
    last = "no attempt made"
    for attempt in range(1, policy.max_attempts + 1):
        retry_after = None
        try:
            response = client.post(url, json=body)
        except httpx.TimeoutException as e:
            last = f"timed out ({type(e).__name__})"
        except httpx.TransportError as e:
            last = f"connection error ({type(e).__name__}: {e})"
        else:
            if response.status_code == 200:
                try:
                    data = response.json()
                except ValueError:
                    raise RequestFailed(f"malformed response: not JSON ({response.text[:80]!r})",
                                        retryable=False, attempts=attempt, status=200) from None
                if not isinstance(data, dict):
                    raise RequestFailed("malformed response: JSON is not an object", retryable=False,
                                        attempts=attempt, status=200)
                return data, attempt
            message = f"HTTP {response.status_code}: {_error_text(response)}"
            if not is_retryable_status(response.status_code):
                raise RequestFailed(message, retryable=False, attempts=attempt, status=response.status_code)
            last, retry_after = message, _retry_after(response)
        if attempt < policy.max_attempts:
            sleep(policy.delay(attempt, retry_after))
    raise RequestFailed(f"gave up after {policy.max_attempts} tries: {last}", retryable=True,
                        attempts=policy.max_attempts)
