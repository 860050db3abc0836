"""Signed session tokens (itsdangerous), carried by the page into the ``join`` frame."""

from __future__ import annotations

import os
import secrets
from typing import Any

from .._errors import LiveError

_SALT = "hype.live"
_PROCESS_KEY = secrets.token_urlsafe(32)


def secret_key(explicit: str | None = None) -> str:
    """The signing key: ``explicit``, else ``$HYPE_SECRET_KEY``, else a per-process random key
    (then tokens do not survive a restart: set a key in production)."""
    return explicit or os.environ.get("HYPE_SECRET_KEY") or _PROCESS_KEY


class Signer:
    """Signs and verifies ``{"sid", "path", ...}`` tokens (``URLSafeTimedSerializer``, HMAC)."""

    def __init__(self, key: str | None = None, max_age_s: int = 7 * 24 * 3600) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self._s = URLSafeTimedSerializer(secret_key(key), salt=_SALT)
        self.max_age_s = max_age_s

    def sign(self, data: dict[str, Any]) -> str:
        """A token for ``data`` (JSON-able)."""
        return self._s.dumps(data)

    def verify(self, token: Any) -> dict[str, Any]:
        """The data signed in ``token``.

        Raises:
            LiveError: ``BAD_SESSION`` for a forged, tampered, expired or malformed token.
        """
        from itsdangerous import BadData

        if not isinstance(token, str) or len(token) > 4096:
            raise LiveError("the session token is missing or malformed", code="BAD_SESSION",
                            suggestion="Reload the page to get a fresh session.")
        try:
            data = self._s.loads(token, max_age=self.max_age_s)
        except BadData as exc:
            raise LiveError(f"the session token was refused ({type(exc).__name__})", code="BAD_SESSION",
                            suggestion="Reload the page to get a fresh session.") from None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise LiveError("the session token carries no session", code="BAD_SESSION")
        return data
