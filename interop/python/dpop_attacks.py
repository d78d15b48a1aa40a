"""An independent RFC 9449 (DPoP) client for baton, built on PyJWT and `cryptography` only:
it logs in with a proof, calls the protected resource, refreshes, and then tries the attacks
the RFC warns about (replay, stolen tokens, forged or malformed proofs).

Usage: dpop_attacks.py BASE_URL            (e.g. http://127.0.0.1:4000)
       dpop_attacks.py --nonces BASE_URL   (a baton with BATON_DPOP_NONCE=true: the nonce flow)
Prints one JSON object {"checks": [{"name", "ok", "detail"}, ...]} on stdout and exits 0 when
every check is ok, 1 otherwise."""

import base64
import hashlib
import hmac
import json
import secrets
import sys
import time

import jwt
import pyotp
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PASSWORD = "correct horse battery staple"
TIMEOUT = 10
CHECKS = []


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def check(name: str, ok: bool, detail: str = "") -> bool:
    CHECKS.append({"name": name, "ok": bool(ok), "detail": detail})
    return ok


# --- keys, thumbprints and proofs -------------------------------------------------------------


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key) -> dict:
    """The public JWK of a P-256 key (RFC 7518 section 6.2.1)."""
    nums = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(nums.x.to_bytes(32, "big")),
        "y": b64url(nums.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 of the required members, lexicographic order, no whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
    members = required[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def other_key(alg: str):
    """A key and its public JWK for EdDSA (Ed25519) or RS256 (RSA 2048)."""
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return key, {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = key.public_key().public_numbers()
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    return key, {"kty": "RSA", "n": b64url(n), "e": b64url(e)}


def ath_of(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def claims_for(htm: str, htu: str, token=None, iat=None) -> dict:
    claims = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu,
              "iat": int(time.time()) if iat is None else iat}
    if token is not None:
        claims["ath"] = ath_of(token)
    return claims


def sign_proof(key, claims: dict, jwk=None, typ="dpop+jwt", alg="ES256") -> str:
    """A proof (RFC 9449 section 4.2) signed with PyJWT, ES256 unless told."""
    headers = {"typ": typ, "jwk": jwk if jwk is not None else public_jwk(key)}
    proof = jwt.encode(claims, key, algorithm=alg, headers=headers)
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == typ and header["alg"] == alg and "jwk" in header, header
    return proof


def proof(key, htm, htu, token=None, **kw) -> str:
    return sign_proof(key, claims_for(htm, htu, token), **kw)


def forged_proof(alg: str, jwk: dict, claims: dict) -> str:
    """A hand-made proof: alg "none" (empty signature) or HS256 (HMAC with a random key)."""
    head = b64url_json({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
    signing_input = f"{head}.{b64url_json(claims)}"
    if alg == "none":
        return signing_input + "."
    mac = hmac.new(secrets.token_bytes(32), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def jwt_payload(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# --- HTTP helpers --------------------------------------------------------------------------------


def body_of(resp) -> dict:
    try:
        body = resp.json()
        return body if isinstance(body, dict) else {"_body": body}
    except ValueError:
        return {"_text": resp.text[:300]}


def describe(resp) -> str:
    text = f"status {resp.status_code} body {json.dumps(body_of(resp))[:400]}"
    www = resp.headers.get("WWW-Authenticate")
    return text + (f" www-authenticate {www!r}" if www else "")


def expect_error(name: str, resp, status: int, error: str, dpop_challenge=False) -> bool:
    """A refusal: the status, the JSON `error`, and (for DPoP at the resource) the challenge."""
    ok = resp.status_code == status and body_of(resp).get("error") == error
    if dpop_challenge:
        ok = ok and resp.headers.get("WWW-Authenticate", "").startswith("DPoP")
    want = f"want {status} {error}" + (" with a DPoP challenge" if dpop_challenge else "")
    return check(name, ok, "" if ok else f"{want}; got {describe(resp)}")


class Baton:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        meta = requests.get(f"{self.base}/.well-known/oauth-authorization-server",
                            timeout=TIMEOUT).json()
        self.issuer = meta["issuer"].rstrip("/")
        self.algs = meta.get("dpop_signing_alg_values_supported", [])

    def htu(self, path: str) -> str:
        return self.issuer + path

    def post(self, path: str, body: dict, dpop=None):
        headers = {"DPoP": dpop} if dpop else {}
        return requests.post(self.base + path, json=body, headers=headers, timeout=TIMEOUT)

    def me(self, token: str, dpop=None, scheme="DPoP"):
        headers = {"Authorization": f"{scheme} {token}"}
        if dpop:
            headers["DPoP"] = dpop
        return requests.get(self.base + "/api/me", headers=headers, timeout=TIMEOUT)

    def me_proof(self, key, token, **kw) -> str:
        return proof(key, "GET", self.htu("/api/me"), token, **kw)

    def login(self, username, key=None):
        dpop = proof(key, "POST", self.htu("/auth/login")) if key else None
        return self.post("/auth/login", {"username": username, "password": PASSWORD}, dpop)

    def refresh(self, refresh_token, key=None):
        dpop = proof(key, "POST", self.htu("/auth/refresh")) if key else None
        return self.post("/auth/refresh", {"refresh_token": refresh_token}, dpop)


# --- the checks ---------------------------------------------------------------------------------


def happy_paths(b: Baton, key, username):
    """Login, resource, refresh, resource again; returns (access_token, refresh_token)."""
    jkt = thumbprint(public_jwk(key))
    check("metadata advertises ES256", "ES256" in b.algs, f"algs {b.algs}")

    r = b.login(username, key)
    body = body_of(r)
    cnf = jwt_payload(body["access_token"]).get("cnf", {}) if r.status_code == 200 else {}
    check("login with proof: 200, DPoP, cnf.jkt is the key's thumbprint",
          r.status_code == 200 and body.get("token_type") == "DPoP" and cnf.get("jkt") == jkt,
          f"thumbprint {jkt}; cnf {cnf}; {describe(r)}")
    if r.status_code != 200:
        raise SystemExit("login failed; stopping")
    access, refresh = body["access_token"], body["refresh_token"]

    r = b.login(username)
    body = body_of(r)
    cnf = jwt_payload(body["access_token"]).get("cnf") if r.status_code == 200 else None
    check("login without proof: 200, Bearer, no cnf",
          r.status_code == 200 and body.get("token_type") == "Bearer" and cnf is None,
          f"cnf {cnf}; {describe(r)}")

    r = b.me(access, b.me_proof(key, access))
    check("/api/me with DPoP scheme and proof: 200",
          r.status_code == 200 and body_of(r).get("username") == username, describe(r))

    r = b.refresh(refresh, key)
    body = body_of(r)
    cnf = jwt_payload(body["access_token"]).get("cnf", {}) if r.status_code == 200 else {}
    check("refresh with proof: 200, DPoP, rotated, same jkt",
          r.status_code == 200 and body.get("token_type") == "DPoP"
          and cnf.get("jkt") == jkt and body.get("refresh_token") not in (None, refresh),
          f"cnf {cnf}; {describe(r)}")
    if r.status_code == 200:
        access, refresh = body["access_token"], body["refresh_token"]
        r = b.me(access, b.me_proof(key, access))
        check("/api/me with the refreshed access token: 200",
              r.status_code == 200 and body_of(r).get("username") == username, describe(r))
    return access, refresh


def resource_attacks(b: Baton, key, token):
    me = b.htu("/api/me")
    now = int(time.time())
    jwk = public_jwk(key)
    bad = "invalid_dpop_proof"

    def attempt(name, dpop, error=bad, scheme="DPoP"):
        expect_error(name, b.me(token, dpop, scheme), 401, error, dpop_challenge=scheme == "DPoP")

    attempt("proof by another key: 401 invalid_token", b.me_proof(new_key(), token),
            error="invalid_token")

    # The same proof twice: the first is fine, the second is a replay of its jti.
    dpop = b.me_proof(key, token)
    first = b.me(token, dpop)
    check("replay: first use of the proof is 200", first.status_code == 200, describe(first))
    attempt("replay: same proof again is 401 invalid_dpop_proof", dpop)

    attempt("stale iat (now-120)", sign_proof(key, claims_for("GET", me, token, iat=now - 120)))
    attempt("future iat (now+60)", sign_proof(key, claims_for("GET", me, token, iat=now + 60)))
    attempt("wrong htm (POST for a GET)", proof(key, "POST", me, token))
    attempt("wrong htu (another path)", proof(key, "GET", b.htu("/api/other"), token))
    attempt("missing ath", proof(key, "GET", me))
    wrong_ath = claims_for("GET", me, token)
    wrong_ath["ath"] = ath_of(token + "x")
    attempt("wrong ath", sign_proof(key, wrong_ath))

    # The private part of the key in the header's jwk (RFC 9449 section 4.3, check 7).
    d = key.private_numbers().private_value.to_bytes(32, "big")
    attempt("private key in jwk", b.me_proof(key, token, jwk={**jwk, "d": b64url(d)}))

    attempt("alg none", forged_proof("none", jwk, claims_for("GET", me, token)))
    attempt("alg HS256", forged_proof("HS256", jwk, claims_for("GET", me, token)))
    attempt('typ "JWT"', b.me_proof(key, token, typ="JWT"))
    attempt("DPoP scheme without a DPoP header", None)
    # A stolen token replayed as a plain bearer token, without the key.
    attempt("bound token as Bearer: 401 invalid_token", None, error="invalid_token",
            scheme="Bearer")


def refresh_attacks(b: Baton, key, refresh):
    """A stolen bound refresh token is useless without the key, and the attempts don't spend it."""
    r = b.refresh(refresh)
    expect_error("stolen refresh token without a proof: 400 invalid_dpop_proof", r, 400,
                 "invalid_dpop_proof")
    r = b.refresh(refresh, new_key())
    expect_error("stolen refresh token with another key's proof: 400 invalid_dpop_proof", r,
                 400, "invalid_dpop_proof")
    # The same at the OAuth token endpoint, and proofs that do not fit the token request.
    r = requests.post(b.base + "/oauth/token", timeout=TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": refresh})
    expect_error("stolen refresh token at /oauth/token without a proof: 400 invalid_dpop_proof",
                 r, 400, "invalid_dpop_proof")
    other_endpoint = proof(key, "POST", b.htu("/auth/login"))
    r = b.post("/auth/refresh", {"refresh_token": refresh}, other_endpoint)
    expect_error("refresh with a proof made for /auth/login: 400 invalid_dpop_proof", r, 400,
                 "invalid_dpop_proof")
    wrong_method = proof(key, "GET", b.htu("/auth/refresh"))
    r = b.post("/auth/refresh", {"refresh_token": refresh}, wrong_method)
    expect_error("refresh with a proof for GET: 400 invalid_dpop_proof", r, 400,
                 "invalid_dpop_proof")
    # The owner's refresh works, once per proof: its replay gets nothing.
    dpop = proof(key, "POST", b.htu("/auth/refresh"))
    r = b.post("/auth/refresh", {"refresh_token": refresh}, dpop)
    check("owner's refresh after the attempts: 200 (token not spent)",
          r.status_code == 200 and body_of(r).get("token_type") == "DPoP", describe(r))
    replayed = b.post("/auth/refresh", {"refresh_token": refresh}, dpop)
    expect_error("replayed refresh proof: 400 invalid_dpop_proof", replayed, 400,
                 "invalid_dpop_proof")


def other_algorithms(b: Baton, username):
    """EdDSA and RS256 proofs, made by `cryptography` keys: tokens bound to their thumbprints."""
    for alg in ("EdDSA", "RS256"):
        key, jwk = other_key(alg)
        check(f"metadata advertises {alg}", alg in b.algs, f"algs {b.algs}")
        dpop = sign_proof(key, claims_for("POST", b.htu("/auth/login")), jwk=jwk, alg=alg)
        r = b.post("/auth/login", {"username": username, "password": PASSWORD}, dpop)
        body = body_of(r)
        cnf = jwt_payload(body["access_token"]).get("cnf", {}) if r.status_code == 200 else {}
        check(f"{alg} login: 200, DPoP, cnf.jkt is the key's thumbprint",
              r.status_code == 200 and cnf.get("jkt") == thumbprint(jwk),
              f"cnf {cnf}; {describe(r)}")
        if r.status_code != 200:
            continue
        access = body["access_token"]
        dpop = sign_proof(key, claims_for("GET", b.htu("/api/me"), access), jwk=jwk, alg=alg)
        r = b.me(access, dpop)
        check(f"{alg} proof at /api/me: 200", r.status_code == 200, describe(r))


def token_endpoint_and_htu(b: Baton, key, refresh):
    """The OAuth token endpoint binds as /auth/refresh does, and htu is compared normalized."""
    jkt = thumbprint(public_jwk(key))
    r = requests.post(b.base + "/oauth/token", timeout=TIMEOUT,
                      data={"grant_type": "refresh_token", "refresh_token": refresh},
                      headers={"DPoP": proof(key, "POST", b.htu("/oauth/token"))})
    body = body_of(r)
    cnf = jwt_payload(body["access_token"]).get("cnf", {}) if r.status_code == 200 else {}
    check("/oauth/token refresh grant with proof: 200, DPoP, cnf.jkt",
          r.status_code == 200 and body.get("token_type") == "DPoP" and cnf.get("jkt") == jkt,
          f"cnf {cnf}; {describe(r)}")
    if r.status_code != 200:
        return
    access = body["access_token"]
    # RFC 3986 normalization: scheme and host case, percent-encoding of unreserved characters.
    scheme, rest = b.issuer.split("://", 1)
    shouted = f"{scheme.upper()}://{rest.upper()}/api/%6De"
    r = b.me(access, proof(key, "GET", shouted, access))
    check("htu in another case with %6D for 'm': 200", r.status_code == 200,
          f"htu {shouted}; {describe(r)}")
    r = b.me(access, proof(key, "GET", b.htu("/api/me") + "?q=1#frag", access))
    check("htu with query and fragment: 200 (both ignored)", r.status_code == 200, describe(r))
    r = b.me(access, proof(key, "GET", b.htu("/api/me/"), access))
    expect_error("htu with a trailing slash: 401 invalid_dpop_proof", r, 401,
                 "invalid_dpop_proof", dpop_challenge=True)


def second_factor(b: Baton):
    """/auth/login/mfa binds like /auth/login: the second step's proof names the key."""
    username = "dpop-mfa-" + secrets.token_hex(4)
    b.post("/auth/register", {"username": username, "password": PASSWORD})
    plain = body_of(b.post("/auth/login", {"username": username, "password": PASSWORD}))
    auth = {"Authorization": f"Bearer {plain.get('access_token')}"}
    setup = requests.post(b.base + "/auth/mfa/totp/setup", headers=auth, timeout=TIMEOUT,
                          json={"current_password": PASSWORD})
    if not check("TOTP setup for the second-step check", setup.status_code == 200,
                 describe(setup)):
        return
    code = pyotp.parse_uri(body_of(setup)["otpauth_uri"]).now()
    confirmed = requests.post(b.base + "/auth/mfa/totp/confirm", headers=auth, timeout=TIMEOUT,
                              json={"code": code})
    if not check("TOTP confirmed", confirmed.status_code == 200, describe(confirmed)):
        return
    recovery = body_of(confirmed)["recovery_codes"][0]
    key = new_key()
    first = b.login(username, key)
    token = body_of(first).get("mfa_token")
    check("login with a proof of an account with a second factor: 401 mfa_required",
          first.status_code == 401 and token is not None, describe(first))
    r = b.post("/auth/login/mfa", {"mfa_token": token, "recovery_code": recovery},
               proof(key, "POST", b.htu("/auth/login/mfa")))
    body = body_of(r)
    cnf = jwt_payload(body["access_token"]).get("cnf", {}) if r.status_code == 200 else {}
    check("/auth/login/mfa with proof: 200, DPoP, cnf.jkt is the key's thumbprint",
          r.status_code == 200 and body.get("token_type") == "DPoP"
          and cnf.get("jkt") == thumbprint(public_jwk(key)),
          f"cnf {cnf}; {describe(r)}")


def nonces(b: Baton):
    """With BATON_DPOP_NONCE=true: use_dpop_nonce and DPoP-Nonce at the token endpoint and at
    the resource, then the retry with the nonce taken."""
    username = "dpop-nonce-" + secrets.token_hex(4)
    r = b.post("/auth/register", {"username": username, "password": PASSWORD})
    check("register", r.status_code == 201, describe(r))
    key = new_key()
    r = b.login(username, key)
    nonce = r.headers.get("DPoP-Nonce")
    ok = expect_error("login without the nonce: 400 use_dpop_nonce", r, 400, "use_dpop_nonce")
    check("the refusal carries DPoP-Nonce", bool(nonce), describe(r))
    if not (ok and nonce):
        return
    claims = claims_for("POST", b.htu("/auth/login"))
    claims["nonce"] = nonce
    r = b.post("/auth/login", {"username": username, "password": PASSWORD},
               sign_proof(key, claims))
    check("login with the nonce: 200 DPoP", r.status_code == 200
          and body_of(r).get("token_type") == "DPoP", describe(r))
    if r.status_code != 200:
        return
    access = body_of(r)["access_token"]
    r = b.me(access, b.me_proof(key, access))
    www = r.headers.get("WWW-Authenticate", "")
    check("/api/me without the nonce: 401, DPoP challenge use_dpop_nonce, DPoP-Nonce",
          r.status_code == 401 and www.startswith("DPoP") and 'error="use_dpop_nonce"' in www
          and bool(r.headers.get("DPoP-Nonce")), describe(r))
    claims = claims_for("GET", b.htu("/api/me"), access)
    claims["nonce"] = r.headers.get("DPoP-Nonce") or nonce
    r = b.me(access, sign_proof(key, claims))
    check("/api/me with the nonce: 200", r.status_code == 200, describe(r))
    claims = claims_for("GET", b.htu("/api/me"), access)
    claims["nonce"] = "made-up"
    expect_error("/api/me with a made-up nonce: 401 use_dpop_nonce",
                 b.me(access, sign_proof(key, claims)), 401, "use_dpop_nonce",
                 dpop_challenge=True)


def main() -> int:
    args = sys.argv[1:]
    only_nonces = args[:1] == ["--nonces"]
    if only_nonces:
        args = args[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    b = Baton(args[0])
    if only_nonces:
        try:
            nonces(b)
        except Exception as exc:  # report, don't crash: the JSON must still come out
            check("unexpected error", False, f"{type(exc).__name__}: {exc}")
        print(json.dumps({"checks": CHECKS}))
        return 0 if all(c["ok"] for c in CHECKS) else 1
    username = "dpop-" + secrets.token_hex(4)
    r = b.post("/auth/register", {"username": username, "password": PASSWORD})
    if check("register", r.status_code == 201, describe(r)):
        try:
            key = new_key()
            access, refresh = happy_paths(b, key, username)
            resource_attacks(b, key, access)
            refresh_attacks(b, key, refresh)
            other_algorithms(b, username)
            fresh = body_of(b.login(username, key)).get("refresh_token", "")
            token_endpoint_and_htu(b, key, fresh)
            second_factor(b)
        except SystemExit as stop:
            check("aborted", False, str(stop))
        except Exception as exc:  # report, don't crash: the JSON must still come out
            check("unexpected error", False, f"{type(exc).__name__}: {exc}")
    print(json.dumps({"checks": CHECKS}))
    return 0 if all(c["ok"] for c in CHECKS) else 1


if __name__ == "__main__":
    sys.exit(main())
