"""Verify a baton access token with PyJWT, from the JWKS alone (the snippet in the README).

Usage: verify_token.py ISSUER AUDIENCE TOKEN  -> prints the claims as JSON, exit 0 when valid.
"""

import json
import sys

import jwt
from jwt import PyJWKClient


def verify(issuer: str, audience: str, token: str) -> dict:
    jwks = PyJWKClient(f"{issuer}/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA", "ES256", "RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "sub"]},
    )


if __name__ == "__main__":
    issuer, audience, token = sys.argv[1:4]
    try:
        print(json.dumps(verify(issuer, audience, token)))
    except jwt.PyJWTError as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(1)
