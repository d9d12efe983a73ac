"""API keys for remote endpoints: a key is sent only to the endpoint the user named it for.

No generic variable (such as OPENAI_API_KEY) is read on its own: a key comes from the
variable named for that endpoint's role (`MGRD_ENDPOINT_API_KEY`, `MGRD_JUDGE_API_KEY`), or
from a variable the user names explicitly (`--api-key-env NAME`, `--judge-api-key-env NAME`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ROLE_VARIABLES = {"endpoint": "MGRD_ENDPOINT_API_KEY", "judge": "MGRD_JUDGE_API_KEY"}


def api_key(role: str, variable: str | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The key for `role` ("endpoint" or "judge"): from `variable` when the user named one (it must
    be set), else from the role's own variable; None (send no key) when neither holds one."""
    if role not in ROLE_VARIABLES:
        raise ValueError(f"unknown endpoint role {role!r}; accepted: {', '.join(ROLE_VARIABLES)}")
    if variable is not None:
        if not variable or variable not in environ or not environ[variable]:
            raise ValueError(f"the {role} API key variable {variable!r} is not set (or empty); export it, or "
                             f"drop the option to send no key")
        return environ[variable]
    return environ.get(ROLE_VARIABLES[role]) or None
