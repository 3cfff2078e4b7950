"""A token credential for in-process tests: the fakes accept any bearer token, so no Entra ID is needed."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions


class StaticCredential:
    """Hands out ``token``; records the scopes asked for; ``error`` makes it fail like azure-identity."""

    def __init__(self, token: str = "fake-token", error: Exception | None = None) -> None:
        self.token = token
        self.error = error
        self.calls = 0
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = self.get_token_info(*scopes)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        self.calls += 1
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessTokenInfo(self.token, int(time.time()) + 3600)
