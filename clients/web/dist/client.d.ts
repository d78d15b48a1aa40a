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
import type { ErrorCode, SessionView, UserResponse } from "./generated/wire.js";
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
export type AuthState = {
    status: "unknown";
} | {
    status: "signed-in";
    user: User;
    accessTokenExpiresAt: number;
} | {
    status: "signed-out";
};
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
export declare class BatonError extends Error {
    /** HTTP status. */
    readonly status: number;
    /** The `error` code, e.g. `invalid_credentials`: one of baton's, or the client's own. */
    readonly code: ErrorCode | ClientErrorCode;
    /** The `error_description`, if any. */
    readonly description: string | undefined;
    constructor(status: number, code: ErrorCode | ClientErrorCode, description?: string);
}
/** The client. */
export interface BatonClient {
    /** The current login state. */
    readonly state: AuthState;
    /** Creates an account (with an e-mail address, which a mailed link then confirms). Does not
     *  log in. */
    register(username: string, password: string, options?: {
        email?: string;
    }): Promise<UserResponse>;
    /** Asks for a password-reset mail. Resolves whether or not the account exists (baton answers
     *  `202` either way); throws only on `429`, `503` or bad input. */
    forgotPassword(account: {
        email: string;
    } | {
        username: string;
    }): Promise<void>;
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
/** Creates a client. One per page is enough. */
export declare function createClient(options?: ClientOptions): BatonClient;
