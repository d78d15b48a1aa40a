"""A relying party of baton built on Authlib, for the Chromium end-to-end test: the
authorization code flow with PKCE (S256) and a nonce through Authlib's OAuth2Session, RFC 9207's
`iss` checked on the way back, the ID token verified against the JWKS with joserfc (signature,
iss, aud, exp, nonce), userinfo, and a refresh with rotation.

Usage: oidc_rp.py ISSUER CLIENT_ID CLIENT_SECRET
Prints the port it listens on (127.0.0.1), then serves:
  GET /login     -> 302 to baton's authorization endpoint
  GET /callback  -> the flow's outcome as JSON in <pre id="result">, or 400 with the reason
"""

import html
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER, CLIENT_ID, CLIENT_SECRET = sys.argv[1:4]
META = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()
SCOPE = "openid profile email offline_access"
PENDING = {}
LOCK = threading.Lock()


def session(redirect_uri):
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def verify_id_token(id_token, nonce):
    keys = KeySet.import_key_set(requests.get(META["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(id_token, keys, algorithms=["EdDSA", "ES256", "RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, location=None):
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self):
        url = urlparse(self.path)
        redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        if url.path == "/login":
            verifier = generate_token(48)
            nonce = generate_token(20)
            extra = parse_qs(url.query)
            params = {k: v[0] for k, v in extra.items()}
            auth_url, state = session(redirect_uri).create_authorization_url(
                META["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
            )
            with LOCK:
                PENDING[state] = (verifier, nonce)
            return self.reply(302, "", location=auth_url)
        if url.path != "/callback":
            return self.reply(404, "not found")
        query = parse_qs(url.query)
        try:
            if query.get("iss", [None])[0] != ISSUER:
                raise ValueError(f"iss mismatch (RFC 9207): {query.get('iss')}")
            if "error" in query:
                raise ValueError(f"authorization error: {query['error'][0]}")
            state = query["state"][0]
            with LOCK:
                verifier, nonce = PENDING.pop(state)
            s = session(redirect_uri)
            full = f"http://127.0.0.1:{self.server.server_port}{self.path}"
            token = s.fetch_token(
                META["token_endpoint"],
                authorization_response=full,
                code_verifier=verifier,
                state=state,
            )
            claims = verify_id_token(token["id_token"], nonce)
            userinfo = s.get(META["userinfo_endpoint"], timeout=10).json()
            first_refresh = token["refresh_token"]
            refreshed = s.refresh_token(META["token_endpoint"], refresh_token=first_refresh)
            again = s.refresh_token(META["token_endpoint"], refresh_token=refreshed["refresh_token"])
            result = {
                "id_token_claims": claims,
                "userinfo": userinfo,
                "scope": token.get("scope"),
                "rotated": first_refresh != refreshed["refresh_token"]
                and refreshed["refresh_token"] != again["refresh_token"],
                "access_token_after_refresh": bool(again.get("access_token")),
            }
            body = f'<pre id="result">{html.escape(json.dumps(result))}</pre>'
            return self.reply(200, body)
        except Exception as e:  # the test reads the reason
            return self.reply(400, f'<pre id="error">{html.escape(repr(e))}</pre>')


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
