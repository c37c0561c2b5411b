"""The store's OAuth memory (mixed into mockapis.state.Store, behind its lock): the codes and
tokens the platforms' endpoints issue, and whether each is still good."""

from __future__ import annotations

import time
from typing import Any

from mockapis.records import Code, Issued, OAuthRefused, pkce_matches


class Grants:
    """Codes and tokens, by value. Needs the store's ``lock``, ``codes``, ``issued`` and ``token``."""

    def issue_code(self, platform: str, *, lifetime: float, **details: Any) -> Code:
        code = Code(code=self.token(43), platform=platform, expires_at=time.time() + lifetime, **details)
        with self.lock:
            self.codes[code.code] = code
        return code

    def redeem_code(
        self, platform: str, value: str, *, client_id: str, redirect_uri: str, verifier: str | None
    ) -> Code:
        """The code, spent now; raises OAuthRefused. A code whose authorize request sent a
        ``code_challenge`` needs the matching ``verifier``. A refused attempt spends nothing
        (but counts as a redemption)."""
        with self.lock:
            code = self.codes.get(value)
            if code is None or code.platform != platform:
                raise OAuthRefused("unknown")
            code.redemptions += 1
            if code.redeemed:
                raise OAuthRefused("used")
            if time.time() >= code.expires_at:
                raise OAuthRefused("expired")
            if client_id != code.client_id:
                raise OAuthRefused("client")
            if redirect_uri != code.redirect_uri:
                raise OAuthRefused("redirect_uri")
            if code.code_challenge and not pkce_matches(code, verifier or ""):
                raise OAuthRefused("verifier")
            code.redeemed = True
            return code

    def issue_token(
        self,
        platform: str,
        kind: str,
        *,
        account: str,
        client_id: str,
        scopes: list[str],
        grant: str,
        lifetime: float | None,
        prefix: str = "",
        length: int = 64,
        **details: Any,
    ) -> Issued:
        issued = Issued(
            token=prefix + self.token(length),
            kind=kind,
            platform=platform,
            account=account,
            client_id=client_id,
            scopes=list(scopes),
            grant=grant,
            expires_at=None if lifetime is None else time.time() + lifetime,
            details=details,
        )
        with self.lock:
            self.issued[issued.token] = issued
        return issued

    def issued_token(self, token: str | None) -> Issued | None:
        with self.lock:
            return self.issued.get(token) if token else None

    def bearer_problem(self, token: str | None) -> str | None:
        """For a bearer token the stand-in issued: "expired", "revoked", or "invalid" (a refresh
        token is no bearer token); None while good, and for tokens it did not issue."""
        issued = self.issued_token(token)
        if issued is None:
            return None
        if issued.kind == "refresh":
            return "invalid"
        return issued.problem()

    def spend_refresh(self, platform: str, token: str, *, client_id: str, rotate: bool) -> Issued:
        """Present a refresh token: counted, checked, and with ``rotate`` spent, all under one
        lock, so that of two clients racing with one token exactly one gets through.
        Raises OAuthRefused."""
        with self.lock:
            issued = self.issued.get(token)
            if issued is None or issued.platform != platform or issued.kind != "refresh":
                raise OAuthRefused("unknown")
            issued.uses += 1
            if issued.ended == "rotated":
                raise OAuthRefused("used")
            problem = issued.problem()
            if problem:
                raise OAuthRefused(problem)
            if client_id != issued.client_id:
                raise OAuthRefused("client")
            if rotate:
                issued.ended = "rotated"
            return issued

    def link_refresh(self, spent: Issued, successor: Issued) -> None:
        with self.lock:
            spent.replaced_by = successor.token

    def end_token(self, token: str, how: str = "revoked") -> Issued | None:
        """Revoke a token (a refresh token: its whole grant, as RFC 7009 asks), or with
        how="expired" make it expire now. None if the stand-in never issued it."""
        with self.lock:
            issued = self.issued.get(token)
            if issued is None:
                return None
            if how == "expired":
                issued.expires_at = time.time()
                return issued
            ending = [issued]
            if issued.kind == "refresh":
                ending = [i for i in self.issued.values() if i.grant == issued.grant]
            for one in ending:
                one.ended = one.ended or "revoked"
            return issued

    def snapshot_oauth(self, platform: str | None = None) -> dict[str, Any]:
        with self.lock:
            tokens = [i.as_dict() for i in self.issued.values() if platform in (None, i.platform)]
            codes = [c.as_dict() for c in self.codes.values() if platform in (None, c.platform)]
        return {
            "tokens": tokens,
            "codes": codes,
            "refresh_uses": {t["token"]: t["uses"] for t in tokens if t["kind"] == "refresh"},
        }
