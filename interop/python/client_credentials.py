"""A machine client of baton through Authlib: discovers the token endpoint from the RFC 8414
metadata, fetches a client-credentials token (RFC 6749 section 4.4) with OAuth2Session and HTTP
Basic client authentication, and checks the token against the JWKS with joserfc (Authlib's JOSE
library): signature, issuer and audience.

Usage: client_credentials.py ISSUER CLIENT_ID CLIENT_SECRET SCOPE
       client_credentials.py ISSUER CLIENT_ID --private-key PEM_FILE SCOPE   (private_key_jwt,
           RFC 7523, with Authlib's PrivateKeyJWT: an RS256 assertion with the key's kid)
       client_credentials.py keygen DIR   (an RSA key: DIR/key.pem and its public DIR/jwks.json)
Prints {"token": the token answer without the token, "claims": the access token's claims}.
Exits non-zero (with Authlib's error on stderr) when baton refuses."""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet


KID = "interop-rsa"


def keygen(directory: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from joserfc.jwk import RSAKey

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with open(f"{directory}/key.pem", "wb") as f:
        f.write(pem)
    public = RSAKey.import_key(pem).as_dict(private=False)
    public.update({"kid": KID, "alg": "RS256", "use": "sig"})
    with open(f"{directory}/jwks.json", "w") as f:
        json.dump({"keys": [public]}, f)


def main() -> None:
    if sys.argv[1] == "keygen":
        return keygen(sys.argv[2])
    issuer, client_id = sys.argv[1:3]
    meta = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    assert "client_credentials" in meta["grant_types_supported"], meta
    if sys.argv[3] == "--private-key":
        from authlib.oauth2.rfc7523 import PrivateKeyJWT

        assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"], meta
        with open(sys.argv[4], "rb") as f:
            pem = f.read()
        scope = sys.argv[5]
        session = OAuth2Session(
            client_id,
            pem,
            scope=scope or None,
            token_endpoint_auth_method="private_key_jwt",
        )
        session.register_client_auth_method(
            PrivateKeyJWT(meta["token_endpoint"], headers={"kid": KID}, alg="RS256")
        )
    else:
        secret, scope = sys.argv[3:5]
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
