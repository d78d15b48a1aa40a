"""A machine client of baton through Authlib: discovers the token endpoint from the RFC 8414
metadata, fetches a client-credentials token (RFC 6749 section 4.4) with OAuth2Session and HTTP
Basic client authentication, and checks the token against the JWKS with joserfc (Authlib's JOSE
library): signature, issuer and audience.

Usage: client_credentials.py ISSUER CLIENT_ID CLIENT_SECRET SCOPE
Prints {"token": the token answer without the token, "claims": the access token's claims}.
Exits non-zero (with Authlib's error on stderr) when baton refuses."""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet


def main() -> None:
    issuer, client_id, secret, scope = sys.argv[1:5]
    meta = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert "client_credentials" in meta["grant_types_supported"], meta
    session = OAuth2Session(
        client_id,
        secret,
        scope=scope or None,
        token_endpoint_auth_method="client_secret_basic",
    )
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["access_token"], keys, algorithms=["EdDSA", "ES256", "RS256"])
    assert decoded.header["typ"] == "at+jwt", decoded.header
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": "baton"},
        exp={"essential": True},
    ).validate(decoded.claims)
    answer = {k: v for k, v in token.items() if k != "access_token"}
    print(json.dumps({"token": answer, "claims": decoded.claims}))


if __name__ == "__main__":
    main()
