"""A real OpenID Connect provider for tests, on 127.0.0.1, built on the Authlib project's
libraries: joserfc (its JOSE library, which replaces `authlib.jose`) for RS256 ID tokens and the
JWKS, Authlib's RFC 7636 helper for PKCE; no internet. Its sign-in page is a form where the browser
types the e-mail to sign in as (any address: the test decides who is on the team through the
roles file, as an organisation's IdP and StormSeg's roles file would).

Authorization-code flow as Streamlit's `st.login` (Authlib's client) runs it: discovery,
/authorize (state, nonce, PKCE S256), /token (client secret, code verifier, redirect URI all
checked, codes single-use), /jwks, /userinfo.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    codes: dict = field(default_factory=dict)  # code -> the authorize request + e-mail
    tokens: dict = field(default_factory=dict)  # access token -> claims
    lock: threading.Lock = field(default_factory=threading.Lock)
    sign_ins: list = field(default_factory=list)  # e-mails that completed the token exchange

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def id_token(self, claims: dict, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        payload = {**claims, "iss": self.issuer, "aud": client_id, "iat": now, "exp": now + 600}
        if nonce:
            payload["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, payload, self.key)


def _claims(email: str) -> dict:
    return {"sub": email, "email": email, "email_verified": True, "name": email.split("@")[0]}


class _Handler(BaseHTTPRequestHandler):
    provider: Provider

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: dict, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", {"Cache-Control": "no-store"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._json(self.provider.metadata())
        elif url.path == "/jwks":
            self._json({"keys": [self.provider.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            self._sign_in_form(query)
        elif url.path == "/userinfo":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            claims = self.provider.tokens.get(token)
            self._json(claims) if claims else self._json({"error": "invalid_token"}, 401)
        else:
            self._send(404, b"not found", "text/plain")

    def _sign_in_form(self, query: dict) -> None:
        if query.get("client_id") != self.provider.client_id or query.get("response_type") != "code":
            self._send(400, b"unknown client or response type", "text/plain")
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            "<!doctype html><title>Test identity provider</title><h1>Sign in</h1>"
            f'<form method="post" action="/authorize">{hidden}'
            '<label>E-mail <input name="email" type="email" required></label>'
            '<button type="submit">Continue</button></form>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/authorize":
            form = self._form()
            code = secrets.token_urlsafe(24)
            with self.provider.lock:
                self.provider.codes[code] = form
            target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form.get('state', '')})}"
            self._send(302, b"", "text/plain", {"Location": target})
        elif self.path == "/token":
            self._token(self._form())
        else:
            self._send(404, b"not found", "text/plain")

    def _client_ok(self, form: dict) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        return client_id == self.provider.client_id and secrets.compare_digest(
            secret, self.provider.client_secret
        )

    def _token(self, form: dict) -> None:
        if not self._client_ok(form):
            self._json({"error": "invalid_client"}, 401)
            return
        with self.provider.lock:
            request = self.provider.codes.pop(form.get("code", ""), None)  # single use
        if request is None or form.get("grant_type") != "authorization_code":
            self._json({"error": "invalid_grant"}, 400)
            return
        if form.get("redirect_uri") != request["redirect_uri"]:
            self._json({"error": "invalid_grant", "error_description": "redirect_uri mismatch"}, 400)
            return
        challenge = request.get("code_challenge")
        if challenge and create_s256_code_challenge(form.get("code_verifier", "")) != challenge:
            self._json({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
            return
        claims = _claims(request["email"])
        access_token = secrets.token_urlsafe(24)
        with self.provider.lock:
            self.provider.tokens[access_token] = claims
            self.provider.sign_ins.append(request["email"])
        self._json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 600,
                "scope": request.get("scope", "openid"),
                "id_token": self.provider.id_token(claims, request["client_id"], request.get("nonce")),
            }
        )


@contextlib.contextmanager
def running_provider(client_id: str = "stormseg", client_secret: str | None = None) -> Iterator[Provider]:
    """Serve a provider on a free 127.0.0.1 port for the duration of the block."""
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    provider = Provider(
        issuer=f"http://127.0.0.1:{server.server_address[1]}",
        client_id=client_id,
        client_secret=client_secret or secrets.token_urlsafe(32),
    )
    handler.provider = provider
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
