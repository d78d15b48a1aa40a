/**
 * An in-memory stand-in for baton (and for the browser's cookie jar), to be passed as
 * `options.fetch` to `createClient`. It follows /work/shared/API.md for /auth/register,
 * /auth/login, /auth/refresh, /auth/logout, /auth/logout-all, /auth/sessions and /api/me (and
 * baton's docs/api.md for /auth/password, /auth/password/forgot, /auth/password/reset,
 * /auth/email and /auth/email/verify, whose "mail" it keeps in `resetTokens` and
 * `verifyTokens`; and of second factors, the `mfa_required` answer of /auth/login, the second
 * step at /auth/login/mfa with a code or a recovery code, and the step-up refusal of a password
 * or address change), and records every request it sees.
 *
 * The cookie jar models a browser: the `baton_refresh` cookie is sent only with
 * `credentials: "include"` and is stored when a response that sets it "arrives" (i.e. when the
 * fake resolves its answer), never visible to page scripts.
 *
 * With `dpop` on it checks DPoP proofs as docs/api.md#dpop says (signature, `htm`, `htu`, `iat`
 * against its own `clock`, `ath`, a `jti` used once; no nonces) and binds sessions and access
 * tokens to their key. Every answer carries a `Date` header of that clock.
 *
 * Its bodies are typed with the wire types generated from the server's (src/generated/wire.ts),
 * so the fake cannot drift from the real API's shapes unnoticed (`npm run typecheck`).
 */

import type {
  ChangePasswordRequest,
  Delivery,
  ForgotPasswordRequest,
  LoginMfaRequest,
  MfaRequiredBody,
  ResetPasswordRequest,
  SetEmailRequest,
  VerifyEmailRequest,
  ErrorBody,
  LoginRequest,
  MeResponse,
  RefreshRequest,
  RegisterRequest,
  SessionList,
  SessionView,
  ConnectedApp,
  ConnectedAppList,
  TokenResponse,
  UserResponse,
} from "../src/generated/wire.js";

/** Every JSON body the fake answers with. */
type Answer = ErrorBody | MfaRequiredBody | TokenResponse | UserResponse | SessionList | MeResponse | ConnectedAppList;

export interface Logged {
  method: string;
  url: string;
  path: string;
  headers: Headers;
  credentials: RequestCredentials;
  /** The body as UTF-8 text, and its exact bytes. */
  body: string;
  bytes: Uint8Array;
}

interface Session {
  id: string;
  userId: string;
  username: string;
  refresh: string;
  /** Rotated-away refresh tokens of this session. */
  spent: Set<string>;
  revoked: boolean;
  createdAt: string;
  /** Thumbprint of the DPoP key the session is bound to. */
  jkt?: string;
}

interface User {
  id: string;
  username: string;
  password: string;
  email?: string;
  emailVerified?: boolean;
  /** The one code its authenticator app "shows", and its unused recovery codes. */
  secondFactor?: { code: string; recoveryCodes: Set<string> };
}

/** A login waiting for its second step. */
interface PendingLogin {
  username: string;
  delivery: Delivery;
  wrongCodes: number;
}

type Gate = { promise: Promise<void>; release: () => void; after: boolean };

const enc = new TextEncoder();

export function base64url(text: string): string {
  let bin = "";
  for (const b of enc.encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodePayload(token: string): Record<string, unknown> {
  const part = token.split(".")[1]!;
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

function json(status: number, body: Answer, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", ...headers },
  });
}

/** A refusal at a protected route of a request in the DPoP scheme. */
function dpopChallenge(error: "invalid_token" | "invalid_dpop_proof", description: string): Response {
  return json(
    401,
    { error, error_description: description },
    {
      "WWW-Authenticate": `DPoP realm="baton", error="${error}", error_description="${description}", algs="ES256"`,
    },
  );
}

function bytesOf(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

function base64urlOfBytes(bytes: ArrayBuffer): string {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** RFC 7638 thumbprint of an EC public key. */
export async function thumbprint(jwk: { crv: string; kty: string; x: string; y: string }): Promise<string> {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return base64urlOfBytes(await crypto.subtle.digest("SHA-256", enc.encode(canonical)));
}

function invalidToken(description: string): Response {
  return json(
    401,
    { error: "invalid_token", error_description: description },
    {
      "WWW-Authenticate": `Bearer realm="baton", error="invalid_token", error_description="${description}"`,
    },
  );
}

export class FakeBaton {
  /** Access token lifetime handed out, in seconds. */
  accessTtl = 900;
  /** `refresh_expires_in` handed out. */
  refreshTtl = 604800;
  /** The browser's `baton_refresh` cookie (page scripts cannot see it; only the fake can). */
  cookie: string | null = null;
  /** Every request, in arrival order. */
  readonly log: Logged[] = [];
  /** When set, /auth/refresh answers this 401 `invalid_token` description instead of working. */
  refreshFailure: string | null = null;
  /** Custom answers by path, consulted before the built-in routes. */
  readonly overrides = new Map<string, (req: Request) => Response | Promise<Response>>();
  /** When set, every sign-in is older than the step-up age: a password or address change of an
   *  account with a second factor needs its code. */
  staleSignIns = false;
  /** Check DPoP proofs and bind tokens to their key (docs/api.md#dpop). */
  dpop = false;
  /** The server's clock, in milliseconds since the epoch: its `Date` headers and the window
   *  of a proof's `iat` (60 seconds before it to 5 after). */
  clock: () => number = () => Date.now();
  /** `mfa_token`s of the logins waiting for their second step. */
  private readonly pendingLogins = new Map<string, PendingLogin>();
  /** `jti`s of the DPoP proofs taken. */
  private readonly usedJtis = new Set<string>();

  private readonly users = new Map<string, User>();
  private readonly sessions = new Map<string, Session>();
  /** Connected apps by user id, then client id. */
  private readonly apps = new Map<string, Map<string, ConnectedApp>>();
  /** Access tokens /api/me accepts right now, with the session each belongs to. */
  private readonly valid = new Map<string, string>();
  private seq = 0;
  private gate: Gate | null = null;

  /** Bound so it can be handed over as `options.fetch`. Every answer gets a `Date` (unless
   *  an override set its own). */
  readonly fetch: typeof fetch = async (input, init) => {
    const res = await this.handle(new Request(input, init));
    if (!res.headers.has("Date")) res.headers.set("Date", new Date(this.clock()).toUTCString());
    return res;
  };

  /** How many requests hit `path` (optionally with `method`). */
  count(path: string, method?: string): number {
    return this.log.filter((r) => r.path === path && (!method || r.method === method)).length;
  }

  requests(path: string): Logged[] {
    return this.log.filter((r) => r.path === path);
  }

  /** Makes every access token issued so far invalid on the server (as if they all expired). */
  expireAccessTokens(): void {
    this.valid.clear();
  }

  /**
   * Makes /auth/refresh wait until `release()` is called. With `after`, the refresh is processed
   * first (token rotated, session state changed) and only its answer is held back, like a slow
   * network on the way back; the cookie jar is updated when the answer arrives.
   */
  holdRefresh(opts: { after?: boolean } = {}): () => void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.gate = { promise, release, after: opts.after ?? false };
    return () => {
      this.gate = null;
      release();
    };
  }

  /** Creates a user directly (no request logged). */
  addUser(username: string, password: string): User {
    const user = { id: `user-${++this.seq}`, username, password };
    this.users.set(username.toLowerCase(), user);
    return user;
  }

  /** Gives `username` an authenticator app whose code is always `code`, and recovery codes. */
  addSecondFactor(username: string, code: string, recoveryCodes: string[] = []): void {
    this.users.get(username.toLowerCase())!.secondFactor = { code, recoveryCodes: new Set(recoveryCodes) };
  }

  /** Binds every live session to the DPoP key of thumbprint `jkt` (as a sign-in with another
   *  key would leave them). */
  bindSessions(jkt: string): void {
    for (const s of this.sessions.values()) s.jkt = jkt;
  }

  /** A login from another device: a second session of `username`, not touching the cookie jar. */
  loginElsewhere(username: string): string {
    const user = this.users.get(username.toLowerCase())!;
    return this.newSession(user).id;
  }

  /** Records that `username` allowed the application `clientId` (on baton's consent page). */
  allowApp(username: string, clientId: string, scopes: string[]): void {
    const user = this.users.get(username.toLowerCase())!;
    const apps = this.apps.get(user.id) ?? new Map<string, ConnectedApp>();
    const now = new Date(0).toISOString();
    apps.set(clientId, { client_id: clientId, name: clientId, scopes, granted_at: now, updated_at: now });
    this.apps.set(user.id, apps);
  }

  sessionIds(): string[] {
    return [...this.sessions.values()].filter((s) => !s.revoked).map((s) => s.id);
  }

  isRevoked(sid: string): boolean {
    return this.sessions.get(sid)?.revoked ?? true;
  }

  private newSession(user: User, jkt?: string): Session {
    const s: Session = {
      id: `sid-${++this.seq}`,
      userId: user.id,
      username: user.username,
      refresh: `rt-${++this.seq}-${Math.random().toString(36).slice(2)}`,
      spent: new Set(),
      revoked: false,
      createdAt: new Date().toISOString(),
    };
    if (jkt !== undefined) s.jkt = jkt;
    this.sessions.set(s.id, s);
    return s;
  }

  private issueAccess(s: Session): string {
    for (const [tok, sid] of this.valid) if (sid === s.id) this.valid.delete(tok);
    const nowS = Math.floor(this.clock() / 1000);
    const header = base64url(JSON.stringify({ alg: "EdDSA", typ: "at+jwt", kid: "k1" }));
    const payload = base64url(
      JSON.stringify({
        iss: "http://baton.test",
        aud: "baton",
        sub: s.userId,
        preferred_username: s.username,
        ...this.emailClaims(s.username),
        sid: s.id,
        client_id: "baton",
        iat: nowS,
        exp: nowS + this.accessTtl,
        ...(s.jkt === undefined ? {} : { cnf: { jkt: s.jkt } }),
        jti: `jti-${++this.seq}`,
      }),
    );
    const token = `${header}.${payload}.c2lnbmF0dXJl`;
    this.valid.set(token, s.id);
    return token;
  }

  private emailClaims(username: string): { email?: string; email_verified?: boolean } {
    const user = this.users.get(username.toLowerCase());
    return user?.email === undefined ? {} : { email: user.email, email_verified: user.emailVerified ?? false };
  }

  /** Reset and confirmation tokens the fake "mailed": token → username. */
  readonly resetTokens = new Map<string, string>();
  readonly verifyTokens = new Map<string, string>();

  /** The answer in the login shape; in cookie mode the refresh token goes to the jar only. */
  private tokenAnswer(s: Session, delivery: Delivery): { res: Response; cookie?: string } {
    const body: TokenResponse = {
      access_token: this.issueAccess(s),
      token_type: s.jkt === undefined ? "Bearer" : "DPoP",
      expires_in: this.accessTtl,
      refresh_expires_in: this.refreshTtl,
    };
    if (delivery === "body") body.refresh_token = s.refresh;
    return delivery === "cookie" ? { res: json(200, body), cookie: s.refresh } : { res: json(200, body) };
  }

  /** The step-up refusal (RFC 9470) of a change by `user` that brings `code`, if any. */
  private stepUp(user: User, code: string | null | undefined): Response | null {
    if (!this.staleSignIns || !user.secondFactor || code === user.secondFactor.code) return null;
    const description = "Sign in again with a second factor, or send a code";
    return json(
      401,
      { error: "insufficient_user_authentication", error_description: description },
      {
        "WWW-Authenticate": `Bearer realm="baton", error="insufficient_user_authentication", error_description="${description}", max_age=600`,
      },
    );
  }

  private cookieOf(req: Request): string | null {
    return req.credentials === "include" ? this.cookie : null;
  }

  private csrfOk(req: Request): boolean {
    return req.headers.get("X-Requested-With") === "baton";
  }

  /** The caller of a protected route. A `DPoP` one's proof was checked by `dpopCaller`. */
  private bearer(req: Request): { token: string; sid: string } | Response {
    const auth = req.headers.get("Authorization");
    const m = auth ? /^(bearer|dpop)\s+(.+)$/i.exec(auth) : null;
    const dpopScheme = m?.[1]!.toLowerCase() === "dpop";
    if (!m || (dpopScheme && !this.dpop)) {
      return json(
        401,
        { error: "missing_token", error_description: "No token provided" },
        { "WWW-Authenticate": 'Bearer realm="baton"' },
      );
    }
    const token = m[2]!;
    const sid = this.valid.get(token);
    if (sid === undefined) return invalidToken("Token has expired");
    if (!dpopScheme && this.dpop && decodePayload(token).cnf !== undefined) {
      return invalidToken("The access token is bound to a DPoP key");
    }
    return { token, sid };
  }

  /** The refusal of a request in the `DPoP` scheme whose proof does not hold, if it is one. */
  private async dpopCaller(req: Request): Promise<Response | null> {
    const m = /^dpop\s+(.+)$/i.exec(req.headers.get("Authorization") ?? "");
    if (!this.dpop || !m) return null;
    const token = m[1]!;
    if (!this.valid.has(token)) return dpopChallenge("invalid_token", "Token has expired");
    const jkt = (decodePayload(token).cnf as { jkt?: string } | undefined)?.jkt;
    if (jkt === undefined) return dpopChallenge("invalid_token", "The access token is not bound to a DPoP key");
    const proof = await this.dpopProof(req, token);
    if (proof === null) return dpopChallenge("invalid_dpop_proof", "A DPoP proof is required");
    if ("refused" in proof) return dpopChallenge("invalid_dpop_proof", proof.refused);
    if (proof.jkt !== jkt) return dpopChallenge("invalid_token", "The access token is bound to another DPoP key");
    return null;
  }

  /** The DPoP proof of `req` checked as baton checks it: its key's thumbprint, null without
   *  one (or with DPoP off), or why it is refused. */
  private async dpopProof(req: Request, accessToken?: string): Promise<{ jkt: string } | { refused: string } | null> {
    const proof = req.headers.get("DPoP");
    if (!this.dpop || proof === null) return null;
    const [h, c, sig] = proof.split(".");
    let header: Record<string, any>;
    let claims: Record<string, any>;
    try {
      header = JSON.parse(new TextDecoder().decode(bytesOf(h!)));
      claims = decodePayload(proof);
    } catch {
      return { refused: "The DPoP proof is malformed" };
    }
    if (header.typ !== "dpop+jwt" || header.alg !== "ES256" || typeof header.jwk !== "object" || "d" in header.jwk) {
      return { refused: "The DPoP proof's header is not acceptable" };
    }
    const key = await crypto.subtle.importKey("jwk", header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const signed = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, bytesOf(sig ?? ""), enc.encode(`${h}.${c}`));
    if (!signed) return { refused: "The DPoP proof's signature does not verify" };
    const htu = new URL(req.url);
    htu.search = "";
    htu.hash = "";
    if (claims.htm !== req.method || claims.htu !== htu.href) return { refused: "The DPoP proof is for another request" };
    const nowS = Math.floor(this.clock() / 1000);
    if (typeof claims.iat !== "number" || claims.iat > nowS + 5 || claims.iat < nowS - 60) {
      return { refused: "The DPoP proof is too old or from the future" };
    }
    if (accessToken !== undefined) {
      const ath = base64urlOfBytes(await crypto.subtle.digest("SHA-256", enc.encode(accessToken)));
      if (claims.ath !== ath) return { refused: "The DPoP proof is for another access token" };
    }
    if (typeof claims.jti !== "string" || this.usedJtis.has(claims.jti)) return { refused: "The DPoP proof was used before" };
    this.usedJtis.add(claims.jti);
    return { jkt: await thumbprint(header.jwk) };
  }

  /** The proof of a request to a token endpoint: its thumbprint (undefined without one), or
   *  the `400 invalid_dpop_proof` that refuses it. */
  private async tokenProof(req: Request): Promise<string | undefined | Response> {
    const proof = await this.dpopProof(req);
    if (proof === null) return undefined;
    if ("refused" in proof) return json(400, { error: "invalid_dpop_proof", error_description: proof.refused });
    return proof.jkt;
  }

  private async handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const bytes = new Uint8Array(await req.clone().arrayBuffer());
    const body = new TextDecoder().decode(bytes);
    this.log.push({
      method: req.method,
      url: req.url,
      path: u.pathname,
      headers: new Headers(req.headers),
      credentials: req.credentials,
      body,
      bytes,
    });
    // Like a network hop: never answer synchronously.
    await Promise.resolve();

    const override = this.overrides.get(u.pathname);
    if (override) return override(req);
    const refusal = await this.dpopCaller(req);
    if (refusal) return refusal;

    const route = `${req.method} ${u.pathname}`;
    switch (route) {
      case "POST /auth/register": {
        const { username, password, email } = JSON.parse(body) as RegisterRequest;
        if (this.users.has(username.toLowerCase())) return json(409, { error: "username_taken" });
        const user = this.addUser(username, password);
        if (email != null) {
          user.email = email.trim();
          user.emailVerified = false;
          this.verifyTokens.set(`verify-${++this.seq}`, user.username);
          return json(201, { id: user.id, username: user.username, email: user.email });
        }
        return json(201, { id: user.id, username: user.username });
      }
      case "POST /auth/login": {
        const jkt = await this.tokenProof(req);
        if (jkt instanceof Response) return jkt;
        const { username, password, delivery } = JSON.parse(body) as LoginRequest;
        const user = this.users.get(username.toLowerCase());
        if (!user || user.password !== password) {
          return json(401, {
            error: "invalid_credentials",
            error_description: "Invalid username or password",
          });
        }
        if (user.secondFactor) {
          const mfaToken = `mfa-${++this.seq}`;
          this.pendingLogins.set(mfaToken, { username: user.username, delivery: delivery ?? "body", wrongCodes: 0 });
          return json(401, {
            error: "mfa_required",
            error_description: "A second factor is required",
            mfa_token: mfaToken,
            methods: ["totp", "recovery_code"],
          });
        }
        const { res, cookie } = this.tokenAnswer(this.newSession(user, jkt), delivery ?? "body");
        if (cookie !== undefined && req.credentials === "include") this.cookie = cookie;
        return res;
      }
      case "POST /auth/login/mfa": {
        const jkt = await this.tokenProof(req);
        if (jkt instanceof Response) return jkt;
        const { mfa_token, code, recovery_code } = JSON.parse(body) as LoginMfaRequest;
        const pending = this.pendingLogins.get(mfa_token);
        if (!pending) return json(401, { error: "invalid_token", error_description: "Invalid or expired MFA token" });
        const user = this.users.get(pending.username.toLowerCase())!;
        const factor = user.secondFactor!;
        const right = code != null ? code === factor.code : recovery_code != null && factor.recoveryCodes.delete(recovery_code);
        if (!right) {
          // Five wrong codes spend the token.
          if (++pending.wrongCodes >= 5) this.pendingLogins.delete(mfa_token);
          return json(401, { error: "invalid_code", error_description: "Invalid or already used code" });
        }
        this.pendingLogins.delete(mfa_token);
        const { res, cookie } = this.tokenAnswer(this.newSession(user, jkt), pending.delivery);
        if (cookie !== undefined && req.credentials === "include") this.cookie = cookie;
        return res;
      }
      case "POST /auth/refresh":
        return this.refresh(req, body);
      case "POST /auth/logout": {
        const fromBody = body ? (JSON.parse(body) as RefreshRequest).refresh_token : undefined;
        if (!fromBody && !this.csrfOk(req)) return json(403, { error: "csrf_rejected" });
        const rt = fromBody ?? this.cookieOf(req);
        // Any token of the session, spent or not, revokes it.
        for (const s of this.sessions.values()) if (rt && (s.refresh === rt || s.spent.has(rt))) s.revoked = true;
        if (!fromBody) this.cookie = null;
        return new Response(null, { status: 204 });
      }
      case "POST /auth/logout-all": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const userId = this.sessions.get(who.sid)!.userId;
        for (const s of this.sessions.values()) if (s.userId === userId) s.revoked = true;
        return new Response(null, { status: 204 });
      }
      case "POST /auth/password/forgot": {
        const req = JSON.parse(body) as ForgotPasswordRequest;
        if ((req.email == null) === (req.username == null)) {
          return json(400, { error: "invalid_request", error_description: "Give either email or username" });
        }
        const user = [...this.users.values()].find(
          (u) => (req.username != null && u.username.toLowerCase() === req.username.toLowerCase()) ||
            (req.email != null && u.email?.toLowerCase() === req.email.toLowerCase()),
        );
        if (user?.emailVerified) this.resetTokens.set(`reset-${++this.seq}`, user.username);
        return new Response(null, { status: 202 });
      }
      case "POST /auth/password/reset": {
        const { token, new_password } = JSON.parse(body) as ResetPasswordRequest;
        const name = this.resetTokens.get(token);
        if (name === undefined) {
          return json(400, { error: "invalid_token", error_description: "Invalid, used or expired token" });
        }
        this.resetTokens.delete(token);
        const user = this.users.get(name.toLowerCase())!;
        user.password = new_password;
        for (const s of this.sessions.values()) if (s.userId === user.id) s.revoked = true;
        return new Response(null, { status: 204 });
      }
      case "PUT /auth/email": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const { email, current_password, code } = JSON.parse(body) as SetEmailRequest;
        const user = this.users.get(this.sessions.get(who.sid)!.username.toLowerCase())!;
        const refusal = this.stepUp(user, code);
        if (refusal) return refusal;
        if (user.password !== current_password) {
          return json(401, { error: "invalid_credentials", error_description: "Invalid username or password" });
        }
        user.email = email.trim();
        user.emailVerified = false;
        this.verifyTokens.set(`verify-${++this.seq}`, user.username);
        return new Response(null, { status: 204 });
      }
      case "POST /auth/email/verify": {
        const { token } = JSON.parse(body) as VerifyEmailRequest;
        const name = this.verifyTokens.get(token);
        if (name === undefined) {
          return json(400, { error: "invalid_token", error_description: "Invalid, used or expired token" });
        }
        this.verifyTokens.delete(token);
        this.users.get(name.toLowerCase())!.emailVerified = true;
        return new Response(null, { status: 204 });
      }
      case "POST /auth/password": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const { current_password, new_password, code } = JSON.parse(body) as ChangePasswordRequest;
        const session = this.sessions.get(who.sid)!;
        const user = this.users.get(session.username.toLowerCase())!;
        const refusal = this.stepUp(user, code);
        if (refusal) return refusal;
        if (user.password !== current_password) {
          return json(401, {
            error: "invalid_credentials",
            error_description: "Invalid username or password",
          });
        }
        if (new_password.length < 8) {
          return json(400, {
            error: "invalid_request",
            error_description: "Invalid password: password must be at least 8 characters",
          });
        }
        user.password = new_password;
        for (const s of this.sessions.values()) if (s.userId === session.userId && s.id !== who.sid) s.revoked = true;
        return new Response(null, { status: 204 });
      }
      case "GET /auth/sessions": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const userId = this.sessions.get(who.sid)!.userId;
        const list = [...this.sessions.values()]
          .filter((s) => s.userId === userId && !s.revoked)
          .map((s): SessionView => ({
            id: s.id,
            created_at: s.createdAt,
            last_used_at: s.createdAt,
            expires_at: s.createdAt,
            user_agent: null,
            ip: null,
            current: s.id === who.sid,
          }));
        return json(200, { sessions: list });
      }
      case "GET /auth/connected-apps": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const userId = this.sessions.get(who.sid)!.userId;
        const apps = [...(this.apps.get(userId) ?? new Map()).values()];
        return json(200, { apps });
      }
      case "GET /api/me": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        const s = this.sessions.get(who.sid)!;
        return json(200, { sub: s.userId, username: s.username, session_id: s.id });
      }
      case "POST /api/echo":
      case "PUT /api/echo": {
        const who = this.bearer(req);
        if (who instanceof Response) return who;
        return new Response(bytes, {
          status: 200,
          headers: { "Content-Type": req.headers.get("Content-Type") ?? "text/plain" },
        });
      }
    }
    const app = /^DELETE \/auth\/connected-apps\/(.+)$/.exec(route);
    if (app) {
      const who = this.bearer(req);
      if (who instanceof Response) return who;
      const userId = this.sessions.get(who.sid)!.userId;
      const removed = this.apps.get(userId)?.delete(decodeURIComponent(app[1]!)) ?? false;
      return removed ? new Response(null, { status: 204 }) : json(404, { error: "not_found" });
    }
    const del = /^DELETE \/auth\/sessions\/(.+)$/.exec(route);
    if (del) {
      const who = this.bearer(req);
      if (who instanceof Response) return who;
      const userId = this.sessions.get(who.sid)!.userId;
      const target = this.sessions.get(decodeURIComponent(del[1]!));
      if (!target || target.revoked || target.userId !== userId) return json(404, { error: "not_found" });
      target.revoked = true;
      return new Response(null, { status: 204 });
    }
    return json(404, { error: "not_found" });
  }

  private async refresh(req: Request, body: string): Promise<Response> {
    const gate = this.gate;
    const jar = this.cookieOf(req); // the browser attaches the cookie when the request leaves
    if (gate && !gate.after) await gate.promise;
    const jkt = this.dpop ? await this.tokenProof(req) : undefined;

    let answer: Response;
    let setCookie: string | null | undefined; // undefined: leave the jar alone
    const fromBody = body ? (JSON.parse(body) as RefreshRequest).refresh_token : undefined;
    if (jkt instanceof Response) {
      answer = jkt;
    } else if (this.refreshFailure !== null) {
      answer = json(401, { error: "invalid_token", error_description: this.refreshFailure });
    } else if (!fromBody && !this.csrfOk(req)) {
      answer = json(403, { error: "csrf_rejected" });
    } else {
      const rt = fromBody ?? jar;
      const s = rt ? [...this.sessions.values()].find((x) => x.refresh === rt || x.spent.has(rt)) : undefined;
      if (!rt) {
        answer = json(401, { error: "invalid_request", error_description: "No refresh token" });
      } else if (!s) {
        answer = json(401, { error: "invalid_token", error_description: "Invalid refresh token" });
      } else if (s.revoked) {
        answer = json(401, { error: "invalid_token", error_description: "Refresh token has been revoked" });
      } else if (s.jkt !== undefined && jkt !== s.jkt) {
        // Nothing changes: the token is not spent, no reuse is detected.
        answer = json(400, {
          error: "invalid_dpop_proof",
          error_description: "The refresh token is bound to a DPoP key this request did not prove",
        });
      } else if (s.refresh !== rt) {
        // A spent token again (this fake has no grace window): the whole session is revoked.
        s.revoked = true;
        answer = json(401, { error: "invalid_token", error_description: "Refresh token reuse detected" });
      } else {
        if (jkt !== undefined) s.jkt = jkt; // a session opened without a key is bound by its first proof
        s.spent.add(s.refresh);
        s.refresh = `rt-${++this.seq}-${Math.random().toString(36).slice(2)}`; // rotation
        const { res, cookie } = this.tokenAnswer(s, fromBody ? "body" : "cookie");
        answer = res;
        setCookie = cookie;
      }
    }

    if (gate && gate.after) await gate.promise;
    if (setCookie !== undefined) this.cookie = setCookie;
    return answer;
  }
}
