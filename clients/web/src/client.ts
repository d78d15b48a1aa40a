/**
 * @baton/client — the browser side of baton.
 *
 * The access token lives only in memory; the refresh token lives only in baton's httpOnly
 * `baton_refresh` cookie, which page scripts cannot read. However many requests fail at once,
 * and however many tabs are open, one refresh goes out and everyone waits for it: within a tab
 * through a shared promise, across tabs of one origin through the Web Locks API, with the new
 * access token shared over a BroadcastChannel. Nothing is written to localStorage or
 * sessionStorage; a reload signs back in silently through the cookie.
 *
 * No runtime dependencies.
 */

import type {
  ChangePasswordRequest,
  ErrorBody,
  ErrorCode,
  ForgotPasswordRequest,
  LoginRequest,
  RegisterRequest,
  ResetPasswordRequest,
  SetEmailRequest,
  VerifyEmailRequest,
  SessionList,
  SessionView,
  TokenResponse,
  UserResponse,
} from "./generated/wire.js";

/** The JSON bodies of baton's API, generated from the server's own types. */
export type * from "./generated/wire.js";

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Where baton answers, e.g. `https://auth.example.com`; empty for the page's own origin. */
  baseUrl?: string;
  /** Seconds before the access token expires at which it is renewed in the background
   *  (at most a quarter of its lifetime). Default 30. */
  refreshMargin?: number;
  /** Renew the access token before it expires. Default true. */
  proactiveRefresh?: boolean;
  /** Coordinate refreshes and logouts with other tabs of this origin. Default true. */
  crossTab?: boolean;
  /** Name of the Web Lock and the BroadcastChannel. Default `baton`. */
  channelName?: string;
  /** The `fetch` to use; defaults to the global one. */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; defaults to `Date.now`. */
  now?: () => number;
  /** Origins besides baton's and the page's own whose requests {@link BatonClient.fetch} sends
   *  the access token to, e.g. `["https://api.example.com"]`. Requests to any other origin go
   *  out without it. */
  apiOrigins?: string[];
  /** Longest pause, in seconds, before trying again after a refresh met a network error or a
   *  `503`. The pauses double from one second, with jitter. Default 30. */
  maxBackoff?: number;
  /** A number in [0, 1) for the jitter; defaults to `Math.random`. */
  random?: () => number;
}

/** The signed-in user, as the access token describes it. */
export interface User {
  /** Stable user id (the token's `sub`). */
  id: string;
  /** Username. */
  username: string;
  /** Session (the token's `sid`). */
  sessionId: string;
  /** E-mail address when the user has one, as of the access token's issue. */
  email?: string;
  /** Whether that address was confirmed then. */
  emailVerified?: boolean;
}

/** Login state: `unknown` until {@link BatonClient.restore} (or a login or logout) settles it. */
export type AuthState =
  | { status: "unknown" }
  | { status: "signed-in"; user: User; accessTokenExpiresAt: number }
  | { status: "signed-out" };

/** Why the state changed. */
export type ChangeReason = "login" | "refresh" | "logout" | "expired" | "restore";

/** A listener of {@link BatonClient.onChange}. */
export type ChangeListener = (state: AuthState, reason: ChangeReason) => void;

/** One live session, from `GET /auth/sessions`. */
export type Session = SessionView;

/** Errors the client itself reports: a non-JSON error answer, a network failure, a refresh
 *  held back after a failure, and a refresh overtaken by a logout. */
export type ClientErrorCode = "http_error" | "network_error" | "backoff" | "superseded";

/** An error answer of baton (`{"error": …, "error_description": …}`). */
export class BatonError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** The `error` code, e.g. `invalid_credentials`: one of baton's, or the client's own. */
  readonly code: ErrorCode | ClientErrorCode;
  /** The `error_description`, if any. */
  readonly description: string | undefined;

  constructor(status: number, code: ErrorCode | ClientErrorCode, description?: string) {
    super(description ? `${code}: ${description}` : code);
    this.name = "BatonError";
    this.status = status;
    this.code = code;
    this.description = description;
  }
}

/** The client. */
export interface BatonClient {
  /** The current login state. */
  readonly state: AuthState;
  /** Creates an account (with an e-mail address, which a mailed link then confirms). Does not
   *  log in. */
  register(username: string, password: string, options?: { email?: string }): Promise<UserResponse>;
  /** Asks for a password-reset mail. Resolves whether or not the account exists (baton answers
   *  `202` either way); throws only on `429`, `503` or bad input. */
  forgotPassword(account: { email: string } | { username: string }): Promise<void>;
  /** Sets a new password with the token of a reset link (`#reset=TOKEN`); every session of the
   *  user ends. Throws `invalid_token` for a wrong, used or expired link. */
  resetPassword(token: string, newPassword: string): Promise<void>;
  /** Sets or changes the signed-in user's address (unconfirmed until its mailed link is
   *  followed); then renews the access token so that `state.user.email` follows. */
  setEmail(email: string, currentPassword: string): Promise<void>;
  /** Confirms an address with the token of its link (`#verify=TOKEN`); signed in, renews the
   *  access token so that `state.user.emailVerified` follows. */
  verifyEmail(token: string): Promise<void>;
  /** Logs in; the refresh token goes to the httpOnly cookie. */
  login(username: string, password: string): Promise<User>;
  /** Signs back in from the refresh cookie (call on page load). True when signed in. */
  restore(): Promise<boolean>;
  /** Revokes this session and signs out every tab. */
  logout(): Promise<void>;
  /** Revokes every session of the user and signs out every tab. */
  logoutAll(): Promise<void>;
  /** Changes the signed-in user's password; every other session of theirs ends, this one
   *  stays. Throws a `BatonError`: `invalid_credentials` for a wrong current password,
   *  `invalid_request` (with the reason) for a new one the password rule refuses. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** The user's live sessions. */
  sessions(): Promise<Session[]>;
  /** Revokes one session; revoking the current one signs out. */
  revokeSession(id: string): Promise<void>;
  /** A valid access token (renewed if needed), or null when signed out. */
  getAccessToken(): Promise<string | null>;
  /** `fetch` with the bearer token for baton's origin, the page's own and `apiOrigins` (other
   *  URLs are fetched without it); on a 401 `invalid_token` it refreshes once and retries once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Subscribes to state changes; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  /** Stops timers and leaves the cross-tab channel. */
  close(): void;
}

interface Held {
  token: string;
  expiresAt: number;
  user: User;
}

type TabMessage =
  | { type: "token"; token: string; expiresAt: number }
  | { type: "logout" };

/** What the client reads of a token answer. */
type TokenAnswer = Pick<TokenResponse, "access_token" | "expires_in">;

const REFRESH_HEADERS = { "X-Requested-With": "baton" } as const;

function decodeClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new BatonError(0, "invalid_token", "Malformed access token");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

function userOf(token: string): User {
  const c = decodeClaims(token);
  const user: User = {
    id: String(c.sub ?? ""),
    username: String(c.preferred_username ?? ""),
    sessionId: String(c.sid ?? ""),
  };
  if (typeof c.email === "string") {
    user.email = c.email;
    user.emailVerified = c.email_verified === true;
  }
  return user;
}

async function errorOf(res: Response): Promise<BatonError> {
  try {
    const body = (await res.json()) as Partial<ErrorBody>;
    return new BatonError(res.status, body.error ?? "http_error", body.error_description);
  } catch {
    return new BatonError(res.status, "http_error", res.statusText || undefined);
  }
}

/** Whether a 401 answer means "this access token is bad or expired" (so a refresh may help). */
async function isInvalidToken(res: Response): Promise<boolean> {
  if (res.status !== 401) return false;
  const challenge = res.headers.get("WWW-Authenticate") ?? "";
  if (/error="?invalid_token"?/i.test(challenge)) return true;
  try {
    const body = (await res.clone().json()) as Partial<ErrorBody>;
    return body.error === "invalid_token";
  } catch {
    return false;
  }
}

/** Creates a client. One per page is enough. */
export function createClient(options: ClientOptions = {}): BatonClient {
  const base = (options.baseUrl ?? "").replace(/\/+$/, "");
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = options.now ?? Date.now;
  const marginMs = Math.max(0, (options.refreshMargin ?? 30) * 1000);
  const proactive = options.proactiveRefresh ?? true;
  const name = options.channelName ?? "baton";
  const crossTab = options.crossTab ?? true;
  const locks: LockManager | undefined =
    crossTab && typeof navigator !== "undefined" ? navigator.locks : undefined;
  const channel: BroadcastChannel | undefined =
    crossTab && typeof BroadcastChannel !== "undefined" ? new BroadcastChannel(name) : undefined;

  const maxBackoffMs = Math.max(1000, (options.maxBackoff ?? 30) * 1000);
  const random = options.random ?? Math.random;
  const pageOrigin =
    typeof location !== "undefined" && typeof location.origin === "string" ? location.origin : undefined;
  const originOf = (u: string): string | null => {
    try {
      return new URL(u, pageOrigin).origin;
    } catch {
      return null;
    }
  };
  /** Origins that get the access token: baton's own, the page's own (its scripts can read
   *  the token anyway) and the ones the app lists. Never a third party's. */
  const trusted = new Set(
    [base || pageOrigin || "", pageOrigin ?? "", ...(options.apiOrigins ?? [])]
      .map(originOf)
      .filter((o): o is string => o !== null && o !== "null"),
  );

  let held: Held | null = null;
  /** False until the first restore, login or sign-out tells whether there is a session. */
  let settled = false;
  let inflight: Promise<string> | null = null;
  /** Refreshes that met a network error or a 503 in a row, and when the next may go out. */
  let failures = 0;
  let retryAt = 0;
  /** Bumped by login and by every sign-out: a refresh answer from an older generation is ignored. */
  let generation = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const listeners = new Set<ChangeListener>();

  const url = (path: string) => `${base}${path}`;

  const state = (): AuthState =>
    held
      ? { status: "signed-in", user: held.user, accessTokenExpiresAt: held.expiresAt }
      : settled
        ? { status: "signed-out" }
        : { status: "unknown" };

  const emit = (reason: ChangeReason) => {
    const s = state();
    for (const l of [...listeners]) {
      try {
        l(s, reason);
      } catch (e) {
        console.error("baton: a change listener threw", e);
      }
    }
  };

  const schedule = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (!held || !proactive || closed) return;
    const lifetime = Math.max(0, held.expiresAt - now());
    const lead = Math.min(marginMs, lifetime / 4);
    const stale = held.token;
    timer = setTimeout(() => {
      refresh(stale).catch(() => {
        /* a failed background refresh signs out or is retried by the next call */
      });
    }, Math.max(0, lifetime - lead));
  };

  const hold = (token: string, expiresAt: number, reason: ChangeReason) => {
    held = { token, expiresAt, user: userOf(token) };
    settled = true;
    schedule();
    emit(reason);
  };

  const accept = (answer: TokenAnswer, reason: ChangeReason): string => {
    const expiresAt = now() + answer.expires_in * 1000;
    hold(answer.access_token, expiresAt, reason);
    if (!closed) {
      channel?.postMessage({ type: "token", token: answer.access_token, expiresAt } satisfies TabMessage);
    }
    return answer.access_token;
  };

  const drop = (reason: ChangeReason, tellOthers: boolean) => {
    const wasSignedIn = held !== null;
    const wasUnknown = held === null && !settled;
    generation++;
    held = null;
    settled = true;
    schedule();
    if (tellOthers && !closed) channel?.postMessage({ type: "logout" } satisfies TabMessage);
    // Finding no session on page load is no ending of one.
    if (wasSignedIn) emit(reason);
    else if (wasUnknown) emit("restore");
  };

  channel?.addEventListener("message", (event: MessageEvent<TabMessage>) => {
    const msg = event.data;
    if (msg?.type === "token") {
      if (!held || msg.expiresAt > held.expiresAt) hold(msg.token, msg.expiresAt, "refresh");
    } else if (msg?.type === "logout") {
      drop("logout", false);
    }
  });

  /** After a refresh that met a network error or a 503: no refresh before a pause that doubles
   *  with each failure in a row (one second up to `maxBackoff`, times 0.5–1.5 so that many
   *  clients do not come back at once); a signed-in client tries again by itself then. */
  const backOff = () => {
    failures++;
    const pause = Math.min(maxBackoffMs, 1000 * 2 ** Math.min(failures - 1, 30)) * (0.5 + random());
    retryAt = now() + pause;
    if (closed) return;
    if (held && proactive) {
      if (timer !== undefined) clearTimeout(timer);
      const stale = held.token;
      timer = setTimeout(() => {
        refresh(stale).catch(() => {
          /* backs off again, or signs out */
        });
      }, pause);
    } else if (!held && !settled) {
      // A restore that met an outage: try again once it may be over, still "unknown" meanwhile.
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        void restore();
      }, pause);
    }
  };

  /** The held token, if it has more than a second left. */
  const freshToken = (h: Held | null): string | null =>
    h !== null && h.expiresAt - now() > 1000 ? h.token : null;

  /** Refreshes unless someone else already replaced `stale`. Single flight per tab, and per
   *  origin through the Web Lock. */
  const refresh = (stale: string | null): Promise<string> => {
    if (inflight) return inflight;
    const run = async (): Promise<string> => {
      // While this tab waited for the lock, another one may have refreshed and told us.
      const current = freshToken(held);
      if (current !== null && current !== stale) return current;
      if (now() < retryAt) {
        throw new BatonError(0, "backoff", "The last refresh failed; trying again shortly");
      }
      const gen = generation;
      let res: Response;
      try {
        res = await doFetch(url("/auth/refresh"), {
          method: "POST",
          credentials: "include",
          headers: REFRESH_HEADERS,
        });
      } catch (e) {
        backOff();
        throw new BatonError(0, "network_error", e instanceof Error ? e.message : String(e));
      }
      if (res.status === 503) backOff();
      else failures = 0;
      if (gen !== generation) {
        // Logged in or out while this was on the way: its answer belongs to a state that is gone.
        const latest = freshToken(held);
        if (latest !== null) return latest;
        throw new BatonError(0, "superseded", "Signed out during the refresh");
      }
      if (!res.ok) {
        const err = await errorOf(res);
        if (res.status === 401 || res.status === 403) drop("expired", true);
        throw err;
      }
      const answer = (await res.json()) as TokenAnswer;
      if (gen !== generation) throw new BatonError(0, "superseded", "Signed out during the refresh");
      return accept(answer, "refresh");
    };
    // The lock is held until `run` settles; other tabs queue behind it.
    const p: Promise<string> = locks
      ? new Promise<string>((resolve, reject) => {
          locks.request(`${name}:refresh`, () => run().then(resolve, reject)).catch(reject);
        })
      : run();
    const shared = p.finally(() => {
      inflight = null;
    });
    inflight = shared;
    return shared;
  };

  /** Signs back in from the cookie. A definite answer (no session) settles the state; an
   *  outage (network error, `503`) leaves it `unknown` and tries again after the pause. */
  const restore = async (): Promise<boolean> => {
    if (freshToken(held) !== null) return true;
    try {
      await refresh(null);
      return true;
    } catch (e) {
      const transient =
        e instanceof BatonError &&
        (e.code === "network_error" || e.code === "backoff" || e.status === 503);
      if (!transient && !settled && held === null) {
        settled = true;
        emit("restore");
      }
      return false;
    }
  };

  /** Signed in, trades the access token for a new one (so its claims follow a change);
   *  a failure leaves the state as the refresh left it. */
  const renew = async (): Promise<void> => {
    if (held === null) return;
    try {
      await refresh(held.token);
    } catch {
      // The change itself succeeded; the next renewal will show it.
    }
  };

  const getAccessToken = async (): Promise<string | null> => {
    const current = freshToken(held);
    if (current !== null) return current;
    try {
      return await refresh(held?.token ?? null);
    } catch {
      return null;
    }
  };

  const authorized = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const template = new Request(input, init);
    // The token goes only where it is meant to: never to a third-party origin.
    const target = originOf(template.url);
    if (target === null || !trusted.has(target)) return doFetch(template);
    const send = (token: string | null) => {
      const req = template.clone();
      const headers = new Headers(req.headers);
      if (token) headers.set("Authorization", `Bearer ${token}`);
      return doFetch(new Request(req, { headers }));
    };
    const token = await getAccessToken();
    const first = await send(token);
    if (!(await isInvalidToken(first))) return first;
    let renewed: string;
    try {
      renewed = await refresh(token);
    } catch {
      return first;
    }
    return send(renewed);
  };

  const logout = async (): Promise<void> => {
    try {
      await doFetch(url("/auth/logout"), {
        method: "POST",
        credentials: "include",
        headers: REFRESH_HEADERS,
      });
    } finally {
      drop("logout", true);
    }
  };

  const json = async <T>(res: Response): Promise<T> => {
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as T;
  };

  const postJson = (
    path: string,
    body: RegisterRequest | LoginRequest | ForgotPasswordRequest | ResetPasswordRequest | VerifyEmailRequest,
  ) =>
    doFetch(url(path), {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });

  return {
    get state() {
      return state();
    },

    async register(username, password, options) {
      const body: RegisterRequest = { username, password };
      if (options?.email !== undefined) body.email = options.email;
      return json<UserResponse>(await postJson("/auth/register", body));
    },

    async forgotPassword(account) {
      const body: ForgotPasswordRequest = "email" in account ? { email: account.email } : { username: account.username };
      const res = await postJson("/auth/password/forgot", body);
      if (!res.ok) throw await errorOf(res);
    },

    async resetPassword(token, newPassword) {
      const res = await postJson("/auth/password/reset", { token, new_password: newPassword });
      if (!res.ok) throw await errorOf(res);
    },

    async setEmail(email, currentPassword) {
      const body: SetEmailRequest = { email, current_password: currentPassword };
      const res = await authorized(url("/auth/email"), {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw await errorOf(res);
      await renew();
    },

    async verifyEmail(token) {
      const res = await postJson("/auth/email/verify", { token });
      if (!res.ok) throw await errorOf(res);
      await renew();
    },

    async login(username, password) {
      const answer = await json<TokenAnswer>(
        await postJson("/auth/login", { username, password, delivery: "cookie" }),
      );
      generation++;
      accept(answer, "login");
      return userOf(answer.access_token);
    },

    restore,

    logout,

    async logoutAll() {
      const res = await authorized(url("/auth/logout-all"), { method: "POST" });
      if (!res.ok && res.status !== 401) throw await errorOf(res);
      await logout();
    },

    async changePassword(currentPassword, newPassword) {
      const body: ChangePasswordRequest = {
        current_password: currentPassword,
        new_password: newPassword,
      };
      const res = await authorized(url("/auth/password"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw await errorOf(res);
    },

    async sessions() {
      const body = await json<SessionList>(await authorized(url("/auth/sessions")));
      return body.sessions;
    },

    async revokeSession(id) {
      const res = await authorized(url(`/auth/sessions/${encodeURIComponent(id)}`), {
        method: "DELETE",
      });
      if (!res.ok) throw await errorOf(res);
      if (held && held.user.sessionId === id) await logout();
    },

    getAccessToken,

    fetch: authorized,

    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      channel?.close();
      listeners.clear();
    },
  };
}
