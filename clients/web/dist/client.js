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
/** An error answer of baton (`{"error": …, "error_description": …}`).
 *
 *  `insufficient_user_authentication` (RFC 9470) refuses a change to the password, the e-mail
 *  address or the second factors after a sign-in older than the step-up age (ten minutes by
 *  default), or one without the account's second factor: sign in again, or send a code with
 *  the change. It says nothing about the access token, so the client neither refreshes nor
 *  signs out on it. */
export class BatonError extends Error {
    /** HTTP status. */
    status;
    /** The `error` code, e.g. `invalid_credentials`: one of baton's, or the client's own. */
    code;
    /** The `error_description`, if any. */
    description;
    constructor(status, code, description, options) {
        super(description ? `${code}: ${description}` : code, options);
        this.name = "BatonError";
        this.status = status;
        this.code = code;
        this.description = description;
    }
}
const REFRESH_HEADERS = { "X-Requested-With": "baton" };
/** The bytes of base64url text (padded or not). */
function bytesOf(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
/** Bytes as base64url without padding, as WebAuthn's JSON has them. */
function base64urlOf(bytes) {
    let binary = "";
    for (const b of new Uint8Array(bytes))
        binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function decodeClaims(token) {
    const part = token.split(".")[1];
    if (!part)
        throw new BatonError(0, "invalid_token", "Malformed access token");
    return JSON.parse(new TextDecoder().decode(bytesOf(part)));
}
function userOf(token) {
    const c = decodeClaims(token);
    const user = {
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
/** How `token` is sent: in the DPoP scheme when it is bound to a key (its `cnf.jkt`, RFC 9449
 *  §6.1), else as a bearer token. Read off the token rather than the state, so that one held
 *  across a sign-out or a sign-in still goes the way it was issued. */
function schemeOf(token) {
    try {
        const cnf = decodeClaims(token).cnf;
        return typeof cnf?.jkt === "string" ? "DPoP" : "Bearer";
    }
    catch {
        return "Bearer";
    }
}
async function errorOf(res) {
    try {
        const body = (await res.json());
        return new BatonError(res.status, body.error ?? "http_error", body.error_description);
    }
    catch {
        return new BatonError(res.status, "http_error", res.statusText || undefined);
    }
}
/** The `mfa_required` answer of a correct password, if `res` is one. */
async function mfaRequiredOf(res) {
    if (res.status !== 401)
        return null;
    try {
        const body = (await res.clone().json());
        return body.error === "mfa_required" && typeof body.mfa_token === "string" ? body : null;
    }
    catch {
        return null;
    }
}
/** Whether this browser has WebAuthn, which passkeys need (the demo hides them otherwise). It
 *  still refuses them to a page at an IP address rather than a host name. */
export function passkeysSupported() {
    return (typeof PublicKeyCredential === "function" &&
        typeof navigator !== "undefined" &&
        navigator.credentials !== undefined);
}
/** Throws `passkeys_unsupported` in a browser without WebAuthn: before any request, so that no
 *  ceremony starts (nor a code is spent on one) that cannot finish. */
function requirePasskeys() {
    if (!passkeysSupported())
        throw new BatonError(0, "passkeys_unsupported", "This browser has no passkeys");
}
/** A credential descriptor of WebAuthn's JSON, its id decoded. */
const descriptor = (d) => ({ ...d, id: bytesOf(d.id) });
/** Runs the browser's passkey prompt; what it throws becomes a `passkey_failed` BatonError. */
async function prompt(ask) {
    let credential;
    try {
        credential = await ask(navigator.credentials);
    }
    catch (e) {
        throw new BatonError(0, "passkey_failed", e instanceof Error ? e.message : String(e), { cause: e });
    }
    if (!(credential instanceof PublicKeyCredential)) {
        throw new BatonError(0, "passkey_failed", "The browser gave no passkey");
    }
    return credential;
}
/** The client's extension results as JSON (`credProps` and the like: plain values). */
const extensionsOf = (credential) => credential.getClientExtensionResults();
/** Creates a passkey with the options of `POST /auth/webauthn/register/start`; the
 *  `PublicKeyCredential` as the finish takes it. Done by hand rather than with
 *  `PublicKeyCredential.parseCreationOptionsFromJSON` and `toJSON`, which older browsers lack. */
async function createPasskey(publicKey) {
    const json = publicKey;
    // The JSON form differs in its binary fields only (and types its enums as plain strings).
    const options = {
        ...json,
        challenge: bytesOf(json.challenge),
        user: { ...json.user, id: bytesOf(json.user.id) },
        excludeCredentials: json.excludeCredentials?.map(descriptor),
    };
    const credential = await prompt((c) => c.create({ publicKey: options }));
    const response = credential.response;
    return {
        id: credential.id,
        rawId: base64urlOf(credential.rawId),
        type: credential.type,
        response: {
            clientDataJSON: base64urlOf(response.clientDataJSON),
            attestationObject: base64urlOf(response.attestationObject),
            // Older browsers cannot tell.
            transports: typeof response.getTransports === "function" ? response.getTransports() : [],
        },
        extensions: extensionsOf(credential),
    };
}
/** Asks for a passkey with the options of `POST /auth/webauthn/login/start`; the
 *  `PublicKeyCredential` as a finish takes it. */
async function getPasskey(publicKey) {
    const json = publicKey;
    const options = {
        ...json,
        challenge: bytesOf(json.challenge),
        allowCredentials: json.allowCredentials?.map(descriptor),
    };
    const credential = await prompt((c) => c.get({ publicKey: options }));
    const response = credential.response;
    return {
        id: credential.id,
        rawId: base64urlOf(credential.rawId),
        type: credential.type,
        response: {
            clientDataJSON: base64urlOf(response.clientDataJSON),
            authenticatorData: base64urlOf(response.authenticatorData),
            signature: base64urlOf(response.signature),
            userHandle: response.userHandle === null ? null : base64urlOf(response.userHandle),
        },
        extensions: extensionsOf(credential),
    };
}
/** A proof as the wire has it. */
function stepUpOf(proof) {
    if (proof === undefined)
        return {};
    return "code" in proof ? { code: proof.code } : { current_password: proof.currentPassword };
}
/** Whether a 401 answer means "this access token is bad or expired" (so a refresh may help). */
async function isInvalidToken(res) {
    if (res.status !== 401)
        return false;
    const challenge = res.headers.get("WWW-Authenticate") ?? "";
    if (/error="?invalid_token"?/i.test(challenge))
        return true;
    try {
        const body = (await res.clone().json());
        return body.error === "invalid_token";
    }
    catch {
        return false;
    }
}
/** Why an answer refuses a DPoP proof, if it does: `use_dpop_nonce` when it asks for the
 *  server's nonce (RFC 9449 §8, §9), `invalid_dpop_proof` when the proof failed a check (its
 *  `iat`, say). `400` with the code at a token endpoint, a `401` whose challenge names it at a
 *  resource; either way the request was not carried out (nor a refresh token spent). */
async function dpopRefusal(res) {
    if (res.status !== 400 && res.status !== 401)
        return null;
    const challenge = /error="?(use_dpop_nonce|invalid_dpop_proof)\b/i.exec(res.headers.get("WWW-Authenticate") ?? "");
    if (challenge)
        return challenge[1].toLowerCase() === "use_dpop_nonce" ? "use_dpop_nonce" : "invalid_dpop_proof";
    try {
        const body = (await res.clone().json());
        return body.error === "use_dpop_nonce" || body.error === "invalid_dpop_proof" ? body.error : null;
    }
    catch {
        return null;
    }
}
/** The server's clock when it answered (its `Date` header, which baton exposes to allowed
 *  origins), in milliseconds since the epoch; null when the header is absent or unreadable. */
function serverTimeOf(res) {
    const date = res.headers.get("Date");
    const time = date === null ? NaN : Date.parse(date);
    return Number.isNaN(time) ? null : time;
}
/** Text as base64url, for a JWT's header and claims. */
function base64urlOfJson(value) {
    return base64urlOf(new TextEncoder().encode(JSON.stringify(value)).buffer);
}
/** Where DPoP keys are kept: one IndexedDB database of this origin, keys by baton origin. */
const DPOP_DB = "baton-dpop";
const DPOP_STORE = "keys";
/** Runs `use` on the DPoP key store, or answers `undefined` where there is no IndexedDB.
 *  Settles when its transaction does (so a write is on disk once it resolves), and rejects
 *  rather than hangs when the database is blocked by another tab, fails, or throws. */
function withKeyStore(mode, use) {
    if (typeof indexedDB === "undefined")
        return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
        let settled = false;
        const settle = (db, outcome) => {
            db?.close();
            if (settled)
                return;
            settled = true;
            outcome();
        };
        const fail = (db, e) => settle(db, () => reject(e ?? new Error("The DPoP key store failed")));
        let open;
        try {
            open = indexedDB.open(DPOP_DB, 1);
        }
        catch (e) {
            fail(null, e);
            return;
        }
        open.onupgradeneeded = () => {
            try {
                if (!open.result.objectStoreNames.contains(DPOP_STORE))
                    open.result.createObjectStore(DPOP_STORE);
            }
            catch (e) {
                // Settled here: a success that may still follow only closes the connection.
                fail(null, e);
            }
        };
        // Another tab holds an older version open: do not wait for it (it may never close).
        open.onblocked = () => fail(null, new Error("The DPoP key store is blocked by another tab"));
        open.onerror = () => fail(null, open.error);
        open.onsuccess = () => {
            const db = open.result;
            // Too late (blocked, or failed in the upgrade): let go of the connection.
            if (settled) {
                db.close();
                return;
            }
            // Never be the one that holds up another tab's upgrade.
            db.onversionchange = () => db.close();
            try {
                const tx = db.transaction(DPOP_STORE, mode);
                const request = use(tx.objectStore(DPOP_STORE));
                tx.oncomplete = () => settle(db, () => resolve(request.result));
                tx.onabort = () => fail(db, tx.error ?? request.error);
                tx.onerror = () => fail(db, tx.error ?? request.error);
            }
            catch (e) {
                fail(db, e);
            }
        };
    });
}
/** A random `jti`: 128 bits, base64url. */
function randomJti() {
    return base64urlOf(crypto.getRandomValues(new Uint8Array(16)).buffer);
}
/** Creates a client. One per page is enough. */
export function createClient(options = {}) {
    const base = (options.baseUrl ?? "").replace(/\/+$/, "");
    const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const now = options.now ?? Date.now;
    const marginMs = Math.max(0, (options.refreshMargin ?? 30) * 1000);
    const proactive = options.proactiveRefresh ?? true;
    const name = options.channelName ?? "baton";
    const crossTab = options.crossTab ?? true;
    const locks = crossTab && typeof navigator !== "undefined" ? navigator.locks : undefined;
    const channel = crossTab && typeof BroadcastChannel !== "undefined" ? new BroadcastChannel(name) : undefined;
    const maxBackoffMs = Math.max(1000, (options.maxBackoff ?? 30) * 1000);
    const random = options.random ?? Math.random;
    const pageOrigin = typeof location !== "undefined" && typeof location.origin === "string" ? location.origin : undefined;
    const originOf = (u) => {
        try {
            return new URL(u, pageOrigin).origin;
        }
        catch {
            return null;
        }
    };
    /** Origins that get the access token: baton's own, the page's own (its scripts can read
     *  the token anyway) and the ones the app lists. Never a third party's. */
    const trusted = new Set([base || pageOrigin || "", pageOrigin ?? "", ...(options.apiOrigins ?? [])]
        .map(originOf)
        .filter((o) => o !== null && o !== "null"));
    const dpop = options.dpop ?? false;
    /** baton's origin: the key's, and the clock proofs use for an origin not heard from yet. */
    const batonOrigin = originOf(base || pageOrigin || "");
    /** The key's name in the store: one per baton origin and channel name. */
    const keyId = `${name}|${batonOrigin ?? ""}`;
    /** The key is made under a Web Lock even with `crossTab: false`: the store is the origin's,
     *  shared by every tab whatever the client's options. */
    const keyLocks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    /** Whether the key is kept in IndexedDB: not where there is none, nor on this page once the
     *  store failed (the key then lives in memory until the page goes). */
    let storeKeys = dpop && typeof indexedDB !== "undefined";
    let dpopKey = null;
    /** The newest nonce each allowed origin gave (`DPoP-Nonce`): as many as there are origins. */
    const nonces = new Map();
    /** How far each origin's clock is ahead of this device's, in milliseconds: learnt from the
     *  `Date` of baton's token answers, and of any answer that refused a proof for its time. */
    const clockOffsets = new Map();
    /** The offset a proof to `origin` uses: its own, else baton's, else none. */
    const offsetFor = (origin) => (origin !== null ? clockOffsets.get(origin) : undefined) ??
        (batonOrigin !== null ? clockOffsets.get(batonOrigin) : undefined) ??
        0;
    /** Gives up on the store for this page; the key stays in memory. */
    const keepKeyInMemory = (e) => {
        storeKeys = false;
        console.warn("baton: the DPoP key store failed; this page keeps its key in memory (a reload signs out)", e);
    };
    /** The DPoP key: read from IndexedDB, or made and stored there (under a Web Lock, so two
     *  tabs starting at once make one key). */
    const loadKey = () => {
        if (dpopKey === null) {
            const load = async () => {
                if (typeof crypto === "undefined" || crypto.subtle === undefined) {
                    throw new BatonError(0, "dpop_unavailable", "DPoP needs WebCrypto, which this page does not have");
                }
                const getOrCreate = async () => {
                    if (storeKeys) {
                        try {
                            const stored = await withKeyStore("readonly", (s) => s.get(keyId));
                            if (stored)
                                return stored;
                        }
                        catch (e) {
                            keepKeyInMemory(e);
                        }
                    }
                    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
                    if (storeKeys) {
                        try {
                            await withKeyStore("readwrite", (s) => s.put(pair, keyId));
                        }
                        catch (e) {
                            keepKeyInMemory(e);
                        }
                    }
                    return pair;
                };
                const pair = keyLocks ? await keyLocks.request(`${name}:dpop-key`, getOrCreate) : await getOrCreate();
                const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
                return {
                    privateKey: pair.privateKey,
                    jwk: { crv: String(jwk.crv), kty: String(jwk.kty), x: String(jwk.x), y: String(jwk.y) },
                };
            };
            const loading = load();
            dpopKey = loading;
            loading.catch(() => {
                if (dpopKey === loading)
                    dpopKey = null;
            });
        }
        return dpopKey;
    };
    /** Forgets the key, here and in IndexedDB (a logout: the next sign-in makes a new one). */
    const dropKey = async () => {
        dpopKey = null;
        nonces.clear();
        if (!storeKeys)
            return;
        try {
            await withKeyStore("readwrite", (s) => s.delete(keyId));
        }
        catch (e) {
            console.error("baton: could not delete the DPoP key", e);
        }
    };
    /** A DPoP proof for `method` `target` (RFC 9449 §4.2), naming `accessToken` when given, its
     *  `iat` on a clock `offset` milliseconds ahead of this device's. `method` is as `fetch`
     *  sends it (a `Request`'s): the server compares `htm` exactly. */
    const proofFor = async (method, target, offset, accessToken) => {
        const key = await loadKey();
        const htu = new URL(target, pageOrigin);
        htu.search = "";
        htu.hash = "";
        const claims = {
            jti: randomJti(),
            htm: method,
            htu: htu.href,
            iat: Math.floor((now() + offset) / 1000),
        };
        if (accessToken !== undefined) {
            const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
            claims.ath = base64urlOf(hash);
        }
        const nonce = nonces.get(htu.origin);
        if (nonce !== undefined)
            claims.nonce = nonce;
        const input = `${base64urlOfJson({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk })}.${base64urlOfJson(claims)}`;
        const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, new TextEncoder().encode(input));
        return `${input}.${base64urlOf(signature)}`;
    };
    /** Keeps the nonce an answer from `target` gives; not one that came by way of a redirect,
     *  whose nonce is another origin's. */
    const noteNonce = (res, target) => {
        const nonce = res.headers.get("DPoP-Nonce");
        const origin = originOf(target);
        if (nonce !== null && !res.redirected && origin !== null && trusted.has(origin))
            nonces.set(origin, nonce);
    };
    /** How far the answering server's clock is ahead of this device's, by the answer's `Date`
     *  (rounded down to the second, so proofs err on the old side, which the server allows
     *  more of); null when it does not say, or the answer came by way of a redirect. */
    const offsetOf = (res) => {
        const server = serverTimeOf(res);
        return server === null || res.redirected ? null : server - now();
    };
    /** Whether a refused proof should go once more: the server asked for its nonce (now kept),
     *  or refused the proof while its `Date` shows that the clock offset the proof used was more
     *  than two seconds off (now corrected). Other refusals would only be refused again, and so
     *  would one from the far end of a redirect, whose nonce and clock this client does not take. */
    const worthRetrying = async (res, target, used) => {
        if (res.redirected)
            return false;
        const refusal = await dpopRefusal(res);
        if (refusal === "use_dpop_nonce")
            return true;
        if (refusal !== "invalid_dpop_proof")
            return false;
        const offset = offsetOf(res);
        const origin = originOf(target);
        if (offset === null || origin === null || Math.abs(offset - used) <= 2000)
            return false;
        clockOffsets.set(origin, offset);
        return true;
    };
    /** A request to one of baton's endpoints that issue tokens: with a proof when DPoP is on, and
     *  once more (never twice) when the server asks for its nonce or refuses the proof for the
     *  device's clock. Either refusal means nothing was done, no refresh token spent; any other
     *  answer is final. */
    const tokenFetch = async (path, init) => {
        if (!dpop)
            return doFetch(url(path), init);
        const target = new URL(url(path), pageOrigin).href;
        const origin = originOf(target);
        const send = async (offset) => {
            const headers = new Headers(init.headers);
            headers.set("DPoP", await proofFor("POST", target, offset));
            const res = await doFetch(url(path), { ...init, headers });
            noteNonce(res, target);
            // Each answer here is baton's own, fresh (never cached): it keeps baton's clock current.
            const learnt = offsetOf(res);
            if (learnt !== null && origin !== null)
                clockOffsets.set(origin, learnt);
            return res;
        };
        const used = offsetFor(origin);
        const first = await send(used);
        return (await worthRetrying(first, target, used)) ? send(offsetFor(origin)) : first;
    };
    let held = null;
    /** False until the first restore, login or sign-out tells whether there is a session. */
    let settled = false;
    let inflight = null;
    /** Refreshes that met a network error or a 503 in a row, and when the next may go out. */
    let failures = 0;
    let retryAt = 0;
    /** Bumped by login and by every sign-out: a refresh answer from an older generation is ignored. */
    let generation = 0;
    let closed = false;
    let timer;
    const listeners = new Set();
    const url = (path) => `${base}${path}`;
    const state = () => held
        ? { status: "signed-in", user: held.user, accessTokenExpiresAt: held.expiresAt }
        : settled
            ? { status: "signed-out" }
            : { status: "unknown" };
    const emit = (reason) => {
        const s = state();
        for (const l of [...listeners]) {
            try {
                l(s, reason);
            }
            catch (e) {
                console.error("baton: a change listener threw", e);
            }
        }
    };
    const schedule = () => {
        if (timer !== undefined)
            clearTimeout(timer);
        timer = undefined;
        if (!held || !proactive || closed)
            return;
        const lifetime = Math.max(0, held.expiresAt - now());
        const lead = Math.min(marginMs, lifetime / 4);
        const stale = held.token;
        timer = setTimeout(() => {
            refresh(stale).catch(() => {
                /* a failed background refresh signs out or is retried by the next call */
            });
        }, Math.max(0, lifetime - lead));
    };
    const hold = (token, expiresAt, reason) => {
        held = { token, expiresAt, user: userOf(token) };
        settled = true;
        schedule();
        emit(reason);
    };
    const accept = (answer, reason) => {
        const expiresAt = now() + answer.expires_in * 1000;
        hold(answer.access_token, expiresAt, reason);
        if (!closed) {
            const scheme = schemeOf(answer.access_token);
            channel?.postMessage({ type: "token", token: answer.access_token, expiresAt, scheme });
        }
        return answer.access_token;
    };
    const drop = (reason, tellOthers) => {
        const wasSignedIn = held !== null;
        const wasUnknown = held === null && !settled;
        generation++;
        held = null;
        settled = true;
        schedule();
        if (tellOthers && !closed)
            channel?.postMessage({ type: "logout" });
        // Finding no session on page load is no ending of one.
        if (wasSignedIn)
            emit(reason);
        else if (wasUnknown)
            emit("restore");
    };
    channel?.addEventListener("message", (event) => {
        const msg = event.data;
        if (msg?.type === "token") {
            if (!held || msg.expiresAt > held.expiresAt)
                hold(msg.token, msg.expiresAt, "refresh");
        }
        else if (msg?.type === "logout") {
            // The tab that logged out deletes the key; this one forgets its copy.
            dpopKey = null;
            nonces.clear();
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
        if (closed)
            return;
        if (held && proactive) {
            if (timer !== undefined)
                clearTimeout(timer);
            const stale = held.token;
            timer = setTimeout(() => {
                refresh(stale).catch(() => {
                    /* backs off again, or signs out */
                });
            }, pause);
        }
        else if (!held && !settled) {
            // A restore that met an outage: try again once it may be over, still "unknown" meanwhile.
            if (timer !== undefined)
                clearTimeout(timer);
            timer = setTimeout(() => {
                void restore();
            }, pause);
        }
    };
    /** The held token, if it has more than a second left. */
    const freshToken = (h) => h !== null && h.expiresAt - now() > 1000 ? h.token : null;
    /** Refreshes unless someone else already replaced `stale`. Single flight per tab, and per
     *  origin through the Web Lock. */
    const refresh = (stale) => {
        if (inflight)
            return inflight;
        const run = async () => {
            // While this tab waited for the lock, another one may have refreshed and told us.
            const current = freshToken(held);
            if (current !== null && current !== stale)
                return current;
            if (now() < retryAt) {
                throw new BatonError(0, "backoff", "The last refresh failed; trying again shortly");
            }
            const gen = generation;
            const post = () => tokenFetch("/auth/refresh", {
                method: "POST",
                credentials: "include",
                headers: REFRESH_HEADERS,
            });
            let res;
            try {
                res = await post();
                if (dpop && storeKeys && (await dpopRefusal(res)) === "invalid_dpop_proof") {
                    // The session is bound to a key other than the one this tab read: another tab may
                    // have replaced it in the store (a logout and a sign-in there). Read it again, once;
                    // the refusal spent nothing.
                    dpopKey = null;
                    res = await post();
                }
            }
            catch (e) {
                // No WebCrypto (`dpop_unavailable`): no outage to wait out.
                if (e instanceof BatonError)
                    throw e;
                backOff();
                throw new BatonError(0, "network_error", e instanceof Error ? e.message : String(e));
            }
            if (res.status === 503)
                backOff();
            else
                failures = 0;
            if (gen !== generation) {
                // Logged in or out while this was on the way: its answer belongs to a state that is gone.
                const latest = freshToken(held);
                if (latest !== null)
                    return latest;
                throw new BatonError(0, "superseded", "Signed out during the refresh");
            }
            if (!res.ok) {
                const err = await errorOf(res);
                if (res.status === 401 || res.status === 403)
                    drop("expired", true);
                // Still refused for its proof: the session is bound to a key this tab cannot have. It
                // is lost here; the logout is not told (nor other tabs, which may hold that key).
                else if (err.code === "invalid_dpop_proof")
                    drop("expired", false);
                throw err;
            }
            const answer = (await res.json());
            if (gen !== generation)
                throw new BatonError(0, "superseded", "Signed out during the refresh");
            return accept(answer, "refresh");
        };
        // The lock is held until `run` settles; other tabs queue behind it.
        const p = locks
            ? new Promise((resolve, reject) => {
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
    const restore = async () => {
        if (freshToken(held) !== null)
            return true;
        try {
            await refresh(null);
            return true;
        }
        catch (e) {
            const transient = e instanceof BatonError &&
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
    const renew = async () => {
        if (held === null)
            return;
        try {
            await refresh(held.token);
        }
        catch {
            // The change itself succeeded; the next renewal will show it.
        }
    };
    const getAccessToken = async () => {
        const current = freshToken(held);
        if (current !== null)
            return current;
        try {
            return await refresh(held?.token ?? null);
        }
        catch {
            return null;
        }
    };
    const authorized = async (input, init) => {
        const template = new Request(input, init);
        // The token goes only where it is meant to: never to a third-party origin.
        const target = originOf(template.url);
        if (target === null || !trusted.has(target))
            return doFetch(template);
        /** Sends the request with `token`: a bound one in the DPoP scheme with a proof, once more
         *  (never twice) when the answer asks for the server's nonce or refuses the proof for the
         *  device's clock (the request was then not carried out). */
        const send = async (token) => {
            if (token === null || !dpop || schemeOf(token) === "Bearer") {
                const req = template.clone();
                const headers = new Headers(req.headers);
                if (token !== null)
                    headers.set("Authorization", `Bearer ${token}`);
                return doFetch(new Request(req, { headers }));
            }
            const sendOnce = async (offset) => {
                const req = template.clone();
                const headers = new Headers(req.headers);
                headers.set("Authorization", `DPoP ${token}`);
                headers.set("DPoP", await proofFor(req.method, req.url, offset, token));
                const res = await doFetch(new Request(req, { headers }));
                noteNonce(res, req.url);
                return res;
            };
            const used = offsetFor(target);
            const first = await sendOnce(used);
            return (await worthRetrying(first, template.url, used)) ? sendOnce(offsetFor(target)) : first;
        };
        const token = await getAccessToken();
        const first = await send(token);
        if (!(await isInvalidToken(first)))
            return first;
        let renewed;
        try {
            renewed = await refresh(token);
        }
        catch {
            return first;
        }
        return send(renewed);
    };
    const logout = async () => {
        try {
            await doFetch(url("/auth/logout"), {
                method: "POST",
                credentials: "include",
                headers: REFRESH_HEADERS,
            });
        }
        finally {
            // The key goes first, so that nothing signs with it once the logout is told.
            if (dpop)
                await dropKey();
            drop("logout", true);
        }
    };
    const json = async (res) => {
        if (!res.ok)
            throw await errorOf(res);
        return (await res.json());
    };
    const postJson = (path, body) => doFetch(url(path), {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    /** A JSON request with the access token. */
    const sendJson = (method, path, body) => authorized(url(path), {
        method,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    /** Signs in with the answer of any way to log in: a new generation, so that the answer of a
     *  refresh still on its way from before counts for nothing. */
    const signIn = (answer) => {
        generation++;
        accept(answer, "login");
        return userOf(answer.access_token);
    };
    /** A JSON request to an endpoint that issues tokens: with a DPoP proof when DPoP is on. */
    const tokenPostJson = (path, body) => tokenFetch(path, {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    /** The second step of a login, with one factor. */
    const loginMfa = async (request) => signIn(await json(await tokenPostJson("/auth/login/mfa", request)));
    /** A passkey's answer to the options `start` gives. */
    const passkeyAssertion = async (start) => {
        requirePasskeys();
        const options = await json(await postJson("/auth/webauthn/login/start", start));
        return { ceremony: options.ceremony, credential: await getPasskey(options.publicKey) };
    };
    return {
        get state() {
            return state();
        },
        async register(username, password, options) {
            const body = { username, password };
            if (options?.email !== undefined)
                body.email = options.email;
            return json(await postJson("/auth/register", body));
        },
        async forgotPassword(account) {
            const body = "email" in account ? { email: account.email } : { username: account.username };
            const res = await postJson("/auth/password/forgot", body);
            if (!res.ok)
                throw await errorOf(res);
        },
        async resetPassword(token, newPassword) {
            const res = await postJson("/auth/password/reset", { token, new_password: newPassword });
            if (!res.ok)
                throw await errorOf(res);
        },
        async setEmail(email, currentPassword, options) {
            const body = { email, current_password: currentPassword };
            if (options?.code !== undefined)
                body.code = options.code;
            const res = await sendJson("PUT", "/auth/email", body);
            if (!res.ok)
                throw await errorOf(res);
            await renew();
        },
        async verifyEmail(token) {
            const res = await postJson("/auth/email/verify", { token });
            if (!res.ok)
                throw await errorOf(res);
            await renew();
        },
        async login(username, password) {
            // The second step delivers the refresh token the way this first one asks.
            const res = await tokenPostJson("/auth/login", { username, password, delivery: "cookie" });
            const mfa = await mfaRequiredOf(res);
            if (mfa !== null)
                return { status: "mfa-required", mfaToken: mfa.mfa_token, methods: mfa.methods };
            return { status: "signed-in", user: signIn(await json(res)) };
        },
        loginWithCode(mfaToken, code) {
            return loginMfa({ mfa_token: mfaToken, code });
        },
        loginWithRecoveryCode(mfaToken, recoveryCode) {
            return loginMfa({ mfa_token: mfaToken, recovery_code: recoveryCode });
        },
        async loginWithPasskeyAsSecondFactor(mfaToken) {
            return loginMfa({ mfa_token: mfaToken, webauthn: await passkeyAssertion({ mfa_token: mfaToken }) });
        },
        async loginWithPasskey() {
            const assertion = await passkeyAssertion({});
            return signIn(await json(await tokenPostJson("/auth/webauthn/login/finish", { ...assertion, delivery: "cookie" })));
        },
        restore,
        logout,
        async logoutAll() {
            const res = await authorized(url("/auth/logout-all"), { method: "POST" });
            if (!res.ok && res.status !== 401)
                throw await errorOf(res);
            await logout();
        },
        async changePassword(currentPassword, newPassword, options) {
            const body = {
                current_password: currentPassword,
                new_password: newPassword,
            };
            if (options?.code !== undefined)
                body.code = options.code;
            const res = await sendJson("POST", "/auth/password", body);
            if (!res.ok)
                throw await errorOf(res);
        },
        async mfaStatus() {
            return json(await authorized(url("/auth/mfa")));
        },
        async setupTotp(currentPassword) {
            return json(await sendJson("POST", "/auth/mfa/totp/setup", { current_password: currentPassword }));
        },
        async confirmTotp(code) {
            const body = await json(await sendJson("POST", "/auth/mfa/totp/confirm", { code }));
            return body.recovery_codes;
        },
        async disableTotp(proof) {
            const res = await sendJson("DELETE", "/auth/mfa/totp", stepUpOf(proof));
            if (!res.ok)
                throw await errorOf(res);
        },
        async regenerateRecoveryCodes(proof) {
            const body = await json(await sendJson("POST", "/auth/mfa/recovery-codes", stepUpOf(proof)));
            return body.recovery_codes;
        },
        async registerPasskey(currentPassword, options = {}) {
            requirePasskeys();
            const proof = { current_password: currentPassword };
            if (options.code !== undefined)
                proof.code = options.code;
            const start = await json(await sendJson("POST", "/auth/webauthn/register/start", proof));
            const finish = {
                ceremony: start.ceremony,
                credential: await createPasskey(start.publicKey),
            };
            if (options.name !== undefined)
                finish.name = options.name;
            const added = await json(await sendJson("POST", "/auth/webauthn/register/finish", finish));
            return added.recovery_codes === undefined
                ? { credential: added.credential }
                : { credential: added.credential, recoveryCodes: added.recovery_codes };
        },
        async passkeys() {
            const body = await json(await authorized(url("/auth/webauthn/credentials")));
            return body.credentials;
        },
        async deletePasskey(id, proof) {
            const res = await sendJson("DELETE", `/auth/webauthn/credentials/${encodeURIComponent(id)}`, stepUpOf(proof));
            if (!res.ok)
                throw await errorOf(res);
        },
        async sessions() {
            const body = await json(await authorized(url("/auth/sessions")));
            return body.sessions;
        },
        async connectedApps() {
            const body = await json(await authorized(url("/auth/connected-apps")));
            return body.apps;
        },
        async disconnectApp(clientId) {
            const res = await authorized(url(`/auth/connected-apps/${encodeURIComponent(clientId)}`), {
                method: "DELETE",
            });
            if (!res.ok)
                throw await errorOf(res);
        },
        async revokeSession(id) {
            const res = await authorized(url(`/auth/sessions/${encodeURIComponent(id)}`), {
                method: "DELETE",
            });
            if (!res.ok)
                throw await errorOf(res);
            if (held && held.user.sessionId === id)
                await logout();
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
            if (timer !== undefined)
                clearTimeout(timer);
            timer = undefined;
            channel?.close();
            listeners.clear();
        },
    };
}
