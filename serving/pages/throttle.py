"""Sign-in rate limits: per client address for every attempt, and per key once the key is recognised.

Every attempt, a wrong key included, spends a token of the client's bucket, so one address cannot guess keys or
open sessions at speed. A recognised key also spends one of its own bucket, so a key cannot be used to churn
sessions from many addresses; a wrong secret does not, so knowing a key id (it is in audit records) is not enough
to lock that key's holder out. Both allow `per_minute` sign-ins at once, then `per_minute` a minute.

The client is the ASGI scope's address: behind a reverse proxy it is the proxy's unless uvicorn is told to trust
its X-Forwarded-For (FORWARDED_ALLOW_IPS, default 127.0.0.1 and ::1); otherwise everyone behind it shares one
bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from serving.principal import Principal
from serving.ratelimit import RateLimiter


@dataclass(frozen=True)
class SignInThrottle:
    per_client: RateLimiter
    per_key: RateLimiter

    @classmethod
    def per_minute(cls, per_client: int, per_key: int) -> SignInThrottle:
        return cls(RateLimiter(per_client, burst=per_client), RateLimiter(per_key, burst=per_key))

    def wait(self, request: Request, principal: Principal | None) -> int | None:
        """None when this sign-in may go ahead, else whole seconds until it may (the client's limit first)."""
        client = request.client.host if request.client is not None else "unknown"
        wait = self.per_client.take(client)
        if wait is None and principal is not None:
            wait = self.per_key.take(principal.key_id)
        return wait
