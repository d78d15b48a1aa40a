/**
 * The demo page served by `baton serve` at `/`: register, log in (with a second factor when the
 * account has one, or with a passkey alone), call `/api/me`, watch the access token count down
 * and renew itself, list and revoke sessions, enrol an authenticator app and passkeys, log out.
 * It uses only the public API of the client library.
 *
 * `?proactive=off` turns off the early renewal, so that the access token really expires and the
 * next call renews it on its 401. `?dpop=on` binds the tokens to a key of this browser (DPoP).
 */
import { BatonError, createClient, passkeysSupported, } from "./client.js";
const params = new URLSearchParams(location.search);
const client = createClient({
    proactiveRefresh: params.get("proactive") !== "off",
    dpop: params.get("dpop") === "on",
});
globalThis.batonDemo = { client };
function $(id) {
    const el = document.getElementById(id);
    if (!el)
        throw new Error(`missing #${id}`);
    return el;
}
let renewals = 0;
function say(text, kind = "") {
    const m = $("message");
    m.textContent = text;
    m.className = kind;
}
function explain(e) {
    if (e instanceof BatonError && e.code === "insufficient_user_authentication") {
        return "Sign in again to change this: your sign-in is too old, or was made without your second factor.";
    }
    if (e instanceof BatonError && e.code === "passkey_failed" && e.cause instanceof DOMException) {
        // The browser's own messages say little about these two.
        if (e.cause.name === "NotAllowedError")
            return "No passkey was given: the prompt was closed or timed out.";
        if (e.cause.name === "SecurityError") {
            return "Passkeys need this page at a host name (such as localhost), not at an IP address.";
        }
    }
    if (e instanceof BatonError)
        return e.description ?? e.code;
    return e instanceof Error ? e.message : String(e);
}
/** A code typed into an optional field: nothing when blank. */
function optionalCode(id) {
    const code = $(id).value.trim();
    return code === "" ? {} : { code };
}
/** The login waiting for its second factor, and whether a recovery code is to finish it. */
let secondStep = null;
let withRecoveryCode = false;
/** Shows the login form, or the second step's in its place. */
function renderSecondStep() {
    $("login-form").hidden = secondStep !== null;
    $("mfa-form").hidden = secondStep === null;
    if (secondStep === null)
        return;
    const hasApp = secondStep.methods.includes("totp");
    const recovery = withRecoveryCode || !hasApp;
    // A hidden field must also be disabled, or its `required` would block the form.
    $("mfa-code-field").hidden = recovery;
    $("mfa-code").disabled = recovery;
    $("mfa-recovery-field").hidden = !recovery;
    $("mfa-recovery-code").disabled = !recovery;
    $("mfa-toggle-recovery").hidden = !hasApp;
    $("mfa-toggle-recovery").textContent = recovery ? "Use a code from your app" : "Use a recovery code";
    $("mfa-passkey").hidden = !(secondStep.methods.includes("webauthn") && passkeysSupported());
    $(recovery ? "mfa-recovery-code" : "mfa-code").focus();
}
/** Back to the login form. */
function endSecondStep() {
    secondStep = null;
    withRecoveryCode = false;
    $("mfa-form").reset();
    renderSecondStep();
}
/** Takes the secrets of an enrolment off the page: the app's secret and the recovery codes. */
function forgetSecrets() {
    $("totp-confirm-form").hidden = true;
    $("totp-qr").replaceChildren();
    $("totp-secret").textContent = "";
    $("recovery-codes-box").hidden = true;
    $("recovery-codes").replaceChildren();
}
function render(state) {
    $("signed-out").hidden = state.status !== "signed-out";
    $("signed-in").hidden = state.status !== "signed-in";
    if (state.status !== "signed-in")
        forgetSecrets();
    // A sign-in, in this tab or another, ends a second step waiting here.
    if (state.status === "signed-in" && secondStep !== null)
        endSecondStep();
    if (state.status === "signed-in") {
        $("whoami").textContent = state.user.username;
        $("user-id").textContent = state.user.id;
        $("session-id").textContent = state.user.sessionId;
        const status = $("email-status");
        status.textContent =
            state.user.email === undefined
                ? "No address yet."
                : `${state.user.email} (${state.user.emailVerified ? "confirmed" : "not confirmed yet: follow the link we mailed"})`;
        status.dataset.verified = String(state.user.emailVerified === true);
    }
    tick();
}
let lifetime = 1;
function tick() {
    const s = client.state;
    if (s.status !== "signed-in")
        return;
    const left = Math.max(0, s.accessTokenExpiresAt - Date.now());
    lifetime = Math.max(lifetime, left);
    $("ttl").textContent = `${(left / 1000).toFixed(1)} s`;
    $("ttl-bar").style.width = `${Math.round((100 * left) / lifetime)}%`;
    $("renewals").textContent = String(renewals);
}
setInterval(tick, 200);
const when = (iso) => new Date(iso).toLocaleString();
async function loadApps() {
    const body = $("apps");
    let apps;
    try {
        apps = await client.connectedApps();
    }
    catch (e) {
        say(`Could not list connected apps: ${explain(e)}`, "error");
        return;
    }
    if (apps.length === 0) {
        const tr = document.createElement("tr");
        const td = document.createElement("td");
        td.colSpan = 4;
        td.textContent = "None yet.";
        tr.append(td);
        body.replaceChildren(tr);
        return;
    }
    body.replaceChildren(...apps.map((app) => {
        const tr = document.createElement("tr");
        tr.dataset.clientId = app.client_id;
        for (const text of [app.name, app.scopes.join(" "), when(app.granted_at)]) {
            const td = document.createElement("td");
            td.textContent = text;
            tr.append(td);
        }
        const td = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Disconnect";
        button.addEventListener("click", async () => {
            try {
                await client.disconnectApp(app.client_id);
                say(`${app.name} is disconnected.`, "ok");
                await loadApps();
            }
            catch (e) {
                say(`Could not disconnect: ${explain(e)}`, "error");
            }
        });
        td.append(button);
        tr.append(td);
        return tr;
    }));
}
async function loadSessions() {
    const body = $("sessions");
    let sessions;
    try {
        sessions = await client.sessions();
    }
    catch (e) {
        say(`Could not list sessions: ${explain(e)}`, "error");
        return;
    }
    body.replaceChildren(...sessions.map((s) => {
        const tr = document.createElement("tr");
        tr.className = s.current ? "current" : "";
        tr.dataset.sessionId = s.id;
        const cells = [when(s.created_at), when(s.last_used_at), s.user_agent ?? "—", s.ip ?? "—"];
        cells.forEach((text, i) => {
            const td = document.createElement("td");
            td.textContent = text;
            if (i === 2) {
                td.className = "client";
                td.title = text;
            }
            tr.append(td);
        });
        const td = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Revoke";
        button.addEventListener("click", async () => {
            try {
                await client.revokeSession(s.id);
                say("Session revoked.", "ok");
                if (client.state.status === "signed-in")
                    await loadSessions();
            }
            catch (e) {
                say(`Could not revoke: ${explain(e)}`, "error");
            }
        });
        td.append(button);
        tr.append(td);
        return tr;
    }));
}
/** What the second factors are, in a few words. */
function describeFactors(status) {
    if (status.methods.length === 0)
        return "Off: your password alone signs you in.";
    const factors = [];
    if (status.totp)
        factors.push("an authenticator app");
    const n = status.webauthn_credentials;
    if (n > 0)
        factors.push(n === 1 ? "a passkey" : `${n} passkeys`);
    const left = status.recovery_codes_left;
    return `On, with ${factors.join(" and ")}; ${left} recovery ${left === 1 ? "code" : "codes"} left.`;
}
async function loadSecondFactors() {
    let status;
    try {
        status = await client.mfaStatus();
    }
    catch (e) {
        say(`Could not load the second factors: ${explain(e)}`, "error");
        return;
    }
    const line = $("mfa-status");
    line.textContent = describeFactors(status);
    line.dataset.totp = String(status.totp);
    $("totp-setup-form").hidden = status.totp || !$("totp-confirm-form").hidden;
    $("totp-disable-form").hidden = !status.totp;
}
async function loadPasskeys() {
    let passkeys;
    try {
        passkeys = await client.passkeys();
    }
    catch (e) {
        say(`Could not list the passkeys: ${explain(e)}`, "error");
        return;
    }
    $("passkeys").replaceChildren(...passkeys.map((p) => {
        const tr = document.createElement("tr");
        tr.dataset.passkeyId = p.id;
        for (const text of [p.name, when(p.created_at), p.last_used_at === null ? "never" : when(p.last_used_at)]) {
            const td = document.createElement("td");
            td.textContent = text;
            tr.append(td);
        }
        const td = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Delete";
        button.addEventListener("click", async () => {
            try {
                await client.deletePasskey(p.id);
                say("Passkey deleted.", "ok");
                await loadSecurity();
            }
            catch (e) {
                say(`Could not delete the passkey: ${explain(e)}`, "error");
            }
        });
        td.append(button);
        tr.append(td);
        return tr;
    }));
}
/** The two-factor and passkey cards. */
async function loadSecurity() {
    await Promise.all([loadSecondFactors(), loadPasskeys()]);
}
/** Shows recovery codes, this once. */
function showRecoveryCodes(codes) {
    $("recovery-codes").replaceChildren(...codes.map((code) => {
        const li = document.createElement("li");
        li.textContent = code;
        return li;
    }));
    $("recovery-codes-box").hidden = false;
}
const ACTIVITY = {
    registered: "Account created",
    login_succeeded: "Signed in",
    login_failed: "Wrong password",
    locked_out: "Sign-in refused: too many attempts",
    grace_replay: "A refresh was repeated",
    refresh_reuse: "A used refresh token came back: session ended",
    logout: "Signed out",
    logout_all: "Signed out everywhere",
    session_revoked: "Session revoked",
    password_changed: "Password changed",
    password_reset_requested: "Password reset link mailed",
    password_reset: "Password reset",
    email_changed: "E-mail address changed",
    email_verified: "E-mail address confirmed",
    user_disabled: "Account disabled",
    user_enabled: "Account enabled again",
    mfa_enabled: "Second factor added",
    mfa_disabled: "Second factor removed",
    recovery_code_used: "Signed in with a recovery code",
    recovery_codes_regenerated: "New recovery codes",
    mfa_reset: "Second factors removed by an administrator",
    role_added: "Role given by an administrator",
    role_removed: "Role taken away by an administrator",
    consent_granted: "An application was allowed",
    app_disconnected: "An application was disconnected",
    dpop_key_refused: "A refresh without this browser's key was refused",
};
async function loadEvents() {
    const body = $("events");
    let events;
    try {
        const res = await client.fetch("/auth/events?limit=10");
        if (!res.ok)
            throw new BatonError(res.status, "http_error");
        events = (await res.json()).events;
    }
    catch (e) {
        say(`Could not load the recent activity: ${explain(e)}`, "error");
        return;
    }
    body.replaceChildren(...events.map((e) => {
        const tr = document.createElement("tr");
        tr.dataset.type = e.type;
        for (const text of [when(e.at), ACTIVITY[e.type] ?? e.type, e.ip ?? "—", e.user_agent ?? "—"]) {
            const td = document.createElement("td");
            td.textContent = text;
            tr.append(td);
        }
        return tr;
    }));
}
function busy(form, on) {
    for (const b of form.querySelectorAll("button"))
        b.disabled = on;
}
$("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        const result = await client.login($("login-username").value, $("login-password").value);
        form.reset();
        if (result.status === "mfa-required") {
            say("");
            secondStep = { mfaToken: result.mfaToken, methods: result.methods };
            renderSecondStep();
        }
        else {
            say(`Welcome, ${result.user.username}.`, "ok");
        }
    }
    catch (e) {
        say(explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
const REFUSED_FACTOR = {
    code: "That code is not right.",
    "recovery-code": "That recovery code is not right, or was used already.",
    passkey: "That passkey is not one of this account's.",
};
/** Says why the second step with `factor` failed; a token that is no more ends it. */
function secondStepFailed(e, factor) {
    if (e instanceof BatonError && e.code === "invalid_code") {
        say(REFUSED_FACTOR[factor], "error");
    }
    else if (e instanceof BatonError && e.code === "invalid_token") {
        endSecondStep();
        say("This sign-in took too long or had too many wrong codes. Please log in again.", "error");
    }
    else {
        say(explain(e), "error");
    }
}
$("mfa-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (secondStep === null)
        return;
    const { mfaToken } = secondStep;
    const recovery = !$("mfa-recovery-code").disabled;
    busy(form, true);
    try {
        const user = recovery
            ? await client.loginWithRecoveryCode(mfaToken, $("mfa-recovery-code").value.trim())
            : await client.loginWithCode(mfaToken, $("mfa-code").value.trim());
        say(`Welcome, ${user.username}.`, "ok");
    }
    catch (e) {
        secondStepFailed(e, recovery ? "recovery-code" : "code");
    }
    finally {
        busy(form, false);
    }
});
$("mfa-toggle-recovery").addEventListener("click", () => {
    withRecoveryCode = !withRecoveryCode;
    renderSecondStep();
});
$("mfa-passkey").addEventListener("click", async () => {
    if (secondStep === null)
        return;
    const form = $("mfa-form");
    busy(form, true);
    try {
        const user = await client.loginWithPasskeyAsSecondFactor(secondStep.mfaToken);
        say(`Welcome, ${user.username}.`, "ok");
    }
    catch (e) {
        secondStepFailed(e, "passkey");
    }
    finally {
        busy(form, false);
    }
});
$("mfa-cancel").addEventListener("click", () => {
    endSecondStep();
    say("");
    $("login-username").focus();
});
$("passkey-login").addEventListener("click", async () => {
    const form = $("login-form");
    busy(form, true);
    try {
        const user = await client.loginWithPasskey();
        say(`Welcome, ${user.username}.`, "ok");
    }
    catch (e) {
        const refused = e instanceof BatonError && e.code === "invalid_credentials";
        say(refused ? "This passkey is not accepted here." : explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
$("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const username = $("register-username").value;
    const password = $("register-password").value;
    const email = $("register-email").value.trim();
    busy(form, true);
    try {
        await client.register(username, password, email === "" ? {} : { email });
        await client.login(username, password);
        form.reset();
        say(`Account created. Welcome, ${username}.`, "ok");
    }
    catch (e) {
        const taken = e instanceof BatonError && e.code === "username_taken"
            ? "That username is taken."
            : e instanceof BatonError && e.code === "email_taken"
                ? "That e-mail address belongs to another account."
                : explain(e);
        say(taken, "error");
    }
    finally {
        busy(form, false);
    }
});
$("forgot-link").addEventListener("click", () => {
    $("forgot-form").hidden = false;
    $("forgot-account").focus();
});
$("forgot-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const account = $("forgot-account").value.trim();
    busy(form, true);
    try {
        await client.forgotPassword(account.includes("@") ? { email: account } : { username: account });
        form.reset();
        form.hidden = true;
        say("If that account has a confirmed e-mail address, a reset link is on its way.", "ok");
    }
    catch (e) {
        say(explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
/** The token of a mailed link (`#reset=…`, `#verify=…`), taken out of the address bar so it
 *  stays out of the history and of screenshots. */
function linkToken(kind) {
    const m = new RegExp(`^#${kind}=([A-Za-z0-9_-]+)$`).exec(location.hash);
    if (!m)
        return null;
    history.replaceState(null, "", location.pathname + location.search);
    return m[1];
}
let resetToken = null;
$("reset-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (resetToken === null)
        return;
    busy(form, true);
    try {
        await client.resetPassword(resetToken, $("reset-password").value);
        resetToken = null;
        form.reset();
        form.hidden = true;
        say("Your password is set. Log in with it.", "ok");
    }
    catch (e) {
        const gone = e instanceof BatonError && e.code === "invalid_token";
        say(gone ? "This reset link is used or expired. Ask for a new one." : explain(e), "error");
        if (gone)
            form.hidden = true;
    }
    finally {
        busy(form, false);
    }
});
/** Follows a mailed link: `#reset=…` opens the new-password form, `#verify=…` confirms the
 *  address. On load, and when only the fragment changes (a link opened in a tab already here). */
async function followLink() {
    const reset = linkToken("reset");
    if (reset !== null) {
        resetToken = reset;
        $("reset-form").hidden = false;
        $("reset-password").focus();
    }
    const verify = linkToken("verify");
    if (verify !== null) {
        try {
            await client.verifyEmail(verify);
            say("Your e-mail address is confirmed.", "ok");
        }
        catch (e) {
            const gone = e instanceof BatonError && e.code === "invalid_token";
            say(gone ? "This confirmation link is used or expired." : explain(e), "error");
        }
        render(client.state);
    }
}
addEventListener("hashchange", () => void followLink());
$("email-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        await client.setEmail($("email-address").value, $("email-password").value, optionalCode("email-code"));
        form.reset();
        say("Saved. Follow the link we mailed to confirm the address.", "ok");
        render(client.state);
        await loadEvents();
    }
    catch (e) {
        const why = e instanceof BatonError && e.code === "invalid_credentials"
            ? "The current password is not right."
            : e instanceof BatonError && e.code === "email_taken"
                ? "That e-mail address belongs to another account."
                : explain(e);
        say(why, "error");
    }
    finally {
        busy(form, false);
    }
});
$("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        await client.changePassword($("current-password").value, $("new-password").value, optionalCode("password-code"));
        form.reset();
        say("Password changed. Your other sessions are signed out.", "ok");
        await loadSessions();
        await loadEvents();
    }
    catch (e) {
        const wrong = e instanceof BatonError && e.code === "invalid_credentials";
        say(wrong ? "The current password is not right." : explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
$("totp-setup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        const setup = await client.setupTotp($("totp-setup-password").value);
        form.reset();
        form.hidden = true;
        const qr = document.createElement("img");
        qr.alt = "QR code of the secret";
        qr.width = 200;
        qr.height = 200;
        // An SVG shown as an image runs no script, and the page's policy allows data: images.
        qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
        $("totp-qr").replaceChildren(qr);
        $("totp-secret").textContent = setup.secret;
        $("recovery-codes-box").hidden = true;
        $("totp-confirm-form").hidden = false;
        $("totp-confirm-code").focus();
        say("");
    }
    catch (e) {
        const wrong = e instanceof BatonError && e.code === "invalid_credentials";
        say(wrong ? "The current password is not right." : explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
$("totp-confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        const codes = await client.confirmTotp($("totp-confirm-code").value.trim());
        form.reset();
        forgetSecrets();
        showRecoveryCodes(codes);
        say("The authenticator app is on: each sign-in now asks for a code from it.", "ok");
        await loadSecurity();
        await loadEvents();
    }
    catch (e) {
        const wrong = e instanceof BatonError && e.code === "invalid_code";
        say(wrong ? "That code is not right: enter the one the app shows now." : explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
$("totp-cancel").addEventListener("click", () => {
    $("totp-confirm-form").reset();
    forgetSecrets();
    void loadSecondFactors();
});
$("totp-disable-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    busy(form, true);
    try {
        await client.disableTotp({ code: $("totp-disable-code").value.trim() });
        form.reset();
        forgetSecrets();
        say("The authenticator app is off.", "ok");
        await loadSecurity();
        await loadEvents();
    }
    catch (e) {
        const wrong = e instanceof BatonError && e.code === "invalid_code";
        say(wrong ? "That code is not right." : explain(e), "error");
    }
    finally {
        busy(form, false);
    }
});
$("passkey-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $("passkey-name").value.trim();
    busy(form, true);
    try {
        const added = await client.registerPasskey($("passkey-password").value, name === "" ? {} : { name });
        form.reset();
        if (added.recoveryCodes !== undefined)
            showRecoveryCodes(added.recoveryCodes);
        say(`Passkey "${added.credential.name}" added.`, "ok");
        await loadSecurity();
        await loadEvents();
    }
    catch (e) {
        const why = e instanceof BatonError && e.code === "invalid_credentials"
            ? "The current password is not right."
            : e instanceof BatonError && e.code === "passkey_already_registered"
                ? "This passkey is registered already."
                : `Could not add the passkey: ${explain(e)}`;
        say(why, "error");
    }
    finally {
        busy(form, false);
    }
});
$("call-me").addEventListener("click", async () => {
    const out = $("me-output");
    try {
        const res = await client.fetch("/api/me");
        out.textContent = `${res.status} ${JSON.stringify(await res.json(), null, 2)}`;
    }
    catch (e) {
        out.textContent = `Request failed: ${explain(e)}`;
    }
});
$("load-sessions").addEventListener("click", () => void loadSessions());
$("load-apps").addEventListener("click", () => void loadApps());
$("load-passkeys").addEventListener("click", () => void loadPasskeys());
$("load-events").addEventListener("click", () => void loadEvents());
$("logout").addEventListener("click", async () => {
    await client.logout();
    say("Logged out.", "ok");
});
$("logout-all").addEventListener("click", async () => {
    try {
        await client.logoutAll();
        say("Logged out of every session.", "ok");
    }
    catch (e) {
        say(explain(e), "error");
    }
});
client.onChange((state, reason) => {
    if (reason === "refresh")
        renewals += 1;
    if (reason === "login")
        renewals = 0;
    if (reason === "login" || reason === "refresh")
        lifetime = 1;
    if (state.status === "signed-out" && reason !== "logout" && reason !== "restore")
        say("Your session has ended. Please log in again.", "error");
    if (state.status === "signed-out" && reason === "logout")
        say("Logged out.", "ok");
    render(state);
    if (reason === "login") {
        void loadSessions();
        void loadApps();
        void loadEvents();
        void loadSecurity();
    }
});
// Passkeys are offered only where the browser can use them.
$("passkey-login-option").hidden = !passkeysSupported();
$("passkey-form").hidden = !passkeysSupported();
$("passkeys-unsupported").hidden = passkeysSupported();
render(client.state);
void client.restore().then(async (signedIn) => {
    await followLink();
    render(client.state);
    if (signedIn) {
        void loadSessions();
        void loadEvents();
        void loadSecurity();
    }
    document.body.dataset.ready = "true";
});
