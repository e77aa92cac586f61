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
from collections.abc import Callable
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


class SessionsFullError(RuntimeError):
    """More keys hold sessions than the global cap allows: a sign-in would have to end another key's."""


class SessionStore:
    """Thread-safe and self-expiring, bounded per key and overall so that no key can sign another key's users out.

    A key opening more than `max_per_key` sessions loses its own oldest one. The global `max_sessions` is a last
    resort: it takes the oldest session of the key holding the most (the opener's own on a tie), and when every
    key holds just one it refuses the sign-in (SessionsFullError) rather than end a session of another key.
    """

    def __init__(self, lifetime_seconds: float, max_sessions: int, max_per_key: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.lifetime_seconds = lifetime_seconds
        self.max_sessions = max_sessions
        self.max_per_key = min(max_per_key or max_sessions, max_sessions)
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # oldest first, so also first to expire
        self._by_key: dict[str, OrderedDict[str, None]] = {}  # key id -> its session ids, oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions_of(self, key_id: str) -> int:
        with self._lock:
            return len(self._by_key.get(key_id, ()))

    def open(self, principal: Principal) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32),
                          now + self.lifetime_seconds)
        key_id = principal.key_id
        with self._lock:
            self._drop_expired(now)
            self._sessions[session.session_id] = session
            own = self._by_key.setdefault(key_id, OrderedDict())
            own[session.session_id] = None
            if len(own) > self.max_per_key:
                self._drop(next(iter(own)))
            while len(self._sessions) > self.max_sessions:
                fullest = max(self._by_key, key=lambda k: (len(self._by_key[k]), k == key_id))
                oldest = next(iter(self._by_key[fullest]))
                self._drop(oldest)
                if oldest == session.session_id:
                    raise SessionsFullError(f"{self.max_sessions:,} keys already hold a session each")
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= self._clock():
                self._drop(session_id)
                return None
            return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._drop(session_id)

    def _drop(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        own = self._by_key[session.principal.key_id]
        del own[session_id]
        if not own:
            del self._by_key[session.principal.key_id]

    def _drop_expired(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.expires_at > now:
                return
            self._drop(oldest.session_id)
