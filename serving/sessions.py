"""Browser sign-ins: a random session id in an HttpOnly cookie, the key's principal kept server-side in memory.

The raw API key never reaches the cookie (a stolen cookie expires, a key does not). Each session has its own
CSRF token: pages send it in the X-CSRF-Token header on unsafe requests, which a cross-site form cannot do, so
a request riding on the cookie alone is refused. Sessions live in this process only; a restart signs everyone
out, which is acceptable for a single-process service and keeps secrets off the disk.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from serving.principal import Principal

COOKIE = "carealloc_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    session_id: str
    principal: Principal
    csrf_token: str
    expires_at: float

    def csrf_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token.encode())


class SessionStore:
    """Thread-safe, bounded (oldest dropped first) and self-expiring."""

    def __init__(self, lifetime_seconds: float, max_sessions: int):
        self.lifetime_seconds = lifetime_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, principal: Principal) -> Session:
        session = Session(secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32),
                          time.monotonic() + self.lifetime_seconds)
        with self._lock:
            self._sessions[session.session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= time.monotonic():
                del self._sessions[session_id]
                return None
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)
