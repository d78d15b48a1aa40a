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
 * A login may need a second factor: {@link BatonClient.login} then says so, and a code from an
 * authenticator app, a recovery code or a passkey finishes it. Passkeys (WebAuthn) also sign in
 * by themselves.
 *
 * With `dpop: true` the tokens are sender-constrained (DPoP, RFC 9449): the client holds an
 * ECDSA P-256 key pair made by WebCrypto with a non-extractable private key, kept in IndexedDB
 * (one per browser profile, baton origin and channel name, shared by every tab), and signs a
 * proof for each refresh and sign-in and each {@link BatonClient.fetch} to an allowed origin.
 * A stolen refresh cookie or access token is then useless without the key, which no script
 * can read out. Logging out deletes the key. A proof's `iat` is on the server's clock, as the
 * `Date` header of its answers tells it, so that a device clock that is off does not get every
 * proof refused. A refresh refused for its proof reads the key again (another tab may have
 * replaced it) and tries once more; refused still, the session is over for this tab.
 *
 * No runtime dependencies.
 */
import type { ErrorCode, MfaMethod, MfaStatus, PasskeyView, TotpSetupResponse, SessionView, ConnectedApp, UserResponse } from "./generated/wire.js";
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
    /** Coordinate refreshes and logouts with other tabs of this origin. Default true. (The DPoP
     *  key is made under a Web Lock either way.) */
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
    /** Bind the tokens to a key of this browser with DPoP (RFC 9449). Default false. Needs
     *  WebCrypto (else the first request that needs a proof throws `dpop_unavailable`); the key
     *  is kept in IndexedDB (in memory only where there is none or it fails, with a console
     *  warning, so a reload then signs out). The server must allow it (`BATON_DPOP`, on by
     *  default). */
    dpop?: boolean;
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
/** What {@link BatonClient.login} ends in: signed in, or signed in once a second factor is
 *  given with `mfaToken` (single-use, for five minutes) to one of the `loginWith…` methods of
 *  the `methods` the account has. */
export type LoginResult = {
    status: "signed-in";
    user: User;
} | {
    status: "mfa-required";
    mfaToken: string;
    methods: MfaMethod[];
};
/** The fresh proof a change of second factors brings: a code from the authenticator app, or
 *  the current password (enough only with a sign-in younger than the step-up age, and made
 *  with the second factor when the account has one). */
export type Proof = {
    code: string;
} | {
    currentPassword: string;
};
/** One live session, from `GET /auth/sessions`. */
export type Session = SessionView;
/** One of the user's passkeys, from `GET /auth/webauthn/credentials`. */
export type Passkey = PasskeyView;
/** What {@link BatonClient.registerPasskey} ends in. */
export interface RegisteredPasskey {
    /** The new passkey. */
    credential: Passkey;
    /** Ten recovery codes when it is the account's first second factor: shown this once. */
    recoveryCodes?: string[];
}
/** Errors the client itself reports: a non-JSON error answer, a network failure, a refresh
 *  held back after a failure, a refresh overtaken by a logout, a browser without WebAuthn, a
 *  passkey prompt that gave no passkey (dismissed, timed out or refused: the `cause` is the
 *  browser's exception), and `dpop: true` in a browser without WebCrypto (a page not served
 *  over HTTPS or from localhost has none). */
export type ClientErrorCode = "http_error" | "network_error" | "backoff" | "superseded" | "passkeys_unsupported" | "passkey_failed" | "dpop_unavailable";
/** An error answer of baton (`{"error": …, "error_description": …}`).
 *
 *  `insufficient_user_authentication` (RFC 9470) refuses a change to the password, the e-mail
 *  address or the second factors after a sign-in older than the step-up age (ten minutes by
 *  default), or one without the account's second factor: sign in again, or send a code with
 *  the change. It says nothing about the access token, so the client neither refreshes nor
 *  signs out on it. */
export declare class BatonError extends Error {
    /** HTTP status. */
    readonly status: number;
    /** The `error` code, e.g. `invalid_credentials`: one of baton's, or the client's own. */
    readonly code: ErrorCode | ClientErrorCode;
    /** The `error_description`, if any. */
    readonly description: string | undefined;
    constructor(status: number, code: ErrorCode | ClientErrorCode, description?: string, options?: ErrorOptions);
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
     *  followed); then renews the access token so that `state.user.email` follows. For an account
     *  with a second factor, a sign-in older than the step-up age or made without the factor
     *  needs a code from the app along (else `insufficient_user_authentication`). */
    setEmail(email: string, currentPassword: string, options?: {
        code?: string;
    }): Promise<void>;
    /** Confirms an address with the token of its link (`#verify=TOKEN`); signed in, renews the
     *  access token so that `state.user.emailVerified` follows. */
    verifyEmail(token: string): Promise<void>;
    /** Logs in; the refresh token goes to the httpOnly cookie. For an account with a second
     *  factor the password is only the first step: `mfa-required`, still signed out. */
    login(username: string, password: string): Promise<LoginResult>;
    /** Finishes a login with a code from the authenticator app. Throws `invalid_code` for a wrong
     *  one (still signed out; the fifth spends the token) and `invalid_token` for a token that
     *  is used, spent or expired (log in again). */
    loginWithCode(mfaToken: string, code: string): Promise<User>;
    /** Finishes a login with one of the recovery codes, which then works no more. Throws as
     *  {@link BatonClient.loginWithCode} does. */
    loginWithRecoveryCode(mfaToken: string, recoveryCode: string): Promise<User>;
    /** Finishes a login with one of the account's passkeys (the browser asks for it). Throws as
     *  {@link BatonClient.loginWithCode} does, or `passkeys_unsupported` or `passkey_failed`. */
    loginWithPasskeyAsSecondFactor(mfaToken: string): Promise<User>;
    /** Signs in with a passkey alone, no username asked (the browser offers the passkeys it has
     *  for this site). Throws `invalid_credentials` for a passkey baton does not accept, or
     *  `passkeys_unsupported` or `passkey_failed`. */
    loginWithPasskey(): Promise<User>;
    /** Signs back in from the refresh cookie (call on page load). True when signed in. */
    restore(): Promise<boolean>;
    /** Revokes this session and signs out every tab. */
    logout(): Promise<void>;
    /** Revokes every session of the user and signs out every tab. */
    logoutAll(): Promise<void>;
    /** Changes the signed-in user's password; every other session of theirs ends, this one
     *  stays. Throws a `BatonError`: `invalid_credentials` for a wrong current password,
     *  `invalid_request` (with the reason) for a new one the password rule refuses,
     *  `insufficient_user_authentication` as {@link BatonClient.setEmail} says. */
    changePassword(currentPassword: string, newPassword: string, options?: {
        code?: string;
    }): Promise<void>;
    /** The signed-in user's second factors. */
    mfaStatus(): Promise<MfaStatus>;
    /** Starts enrolling an authenticator app: the secret, as text, as an `otpauth://` URI and as
     *  a QR code (an SVG document). Off until {@link BatonClient.confirmTotp}. Throws
     *  `mfa_already_enabled` when an app is enrolled. */
    setupTotp(currentPassword: string): Promise<TotpSetupResponse>;
    /** Turns the app on with a code from it; resolves to ten recovery codes, shown this once.
     *  Throws `invalid_code` for a wrong code. */
    confirmTotp(code: string): Promise<string[]>;
    /** Removes the authenticator app (and the recovery codes, when no passkey is left). */
    disableTotp(proof: Proof): Promise<void>;
    /** Ten new recovery codes in place of the old ones, shown this once. */
    regenerateRecoveryCodes(proof: Proof): Promise<string[]>;
    /** Creates a passkey for the signed-in user (the browser asks for it) and registers it. A
     *  passkey signs in alone, so adding one takes the current password (`invalid_credentials`
     *  when wrong), and a code from the app as {@link BatonClient.setEmail} says. */
    registerPasskey(currentPassword: string, options?: {
        name?: string;
        code?: string;
    }): Promise<RegisteredPasskey>;
    /** The signed-in user's passkeys, oldest first. */
    passkeys(): Promise<Passkey[]>;
    /** Removes one of the user's passkeys. Without a proof, it takes a sign-in younger than the
     *  step-up age (made with the second factor, when the account has one). */
    deletePasskey(id: string, proof?: Proof): Promise<void>;
    /** The user's live sessions. */
    sessions(): Promise<Session[]>;
    /** Revokes one session; revoking the current one signs out. */
    revokeSession(id: string): Promise<void>;
    /** The applications the user allowed through baton's sign-in pages ("connected apps"). */
    connectedApps(): Promise<ConnectedApp[]>;
    /** Disconnects an application: its consent is forgotten and its sessions end. */
    disconnectApp(clientId: string): Promise<void>;
    /** A valid access token (renewed if needed), or null when signed out. */
    getAccessToken(): Promise<string | null>;
    /** `fetch` with the bearer token for baton's origin, the page's own and `apiOrigins` (other
     *  URLs are fetched without it); on a 401 `invalid_token` it refreshes once and retries once.
     *  A token bound to the DPoP key goes in the `DPoP` scheme with a proof, sent once more when
     *  the answer asks for the server's nonce or refuses the proof for the device's clock. */
    fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
    /** Subscribes to state changes; returns the unsubscribe function. */
    onChange(listener: ChangeListener): () => void;
    /** Stops timers and leaves the cross-tab channel. */
    close(): void;
}
/** Whether this browser has WebAuthn, which passkeys need (the demo hides them otherwise). It
 *  still refuses them to a page at an IP address rather than a host name. */
export declare function passkeysSupported(): boolean;
/** Creates a client. One per page is enough. */
export declare function createClient(options?: ClientOptions): BatonClient;
