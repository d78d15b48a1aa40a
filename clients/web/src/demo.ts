/**
 * The demo page served by `baton serve` at `/`: register, log in, call `/api/me`, watch the
 * access token count down and renew itself, list and revoke sessions, log out. It uses only the
 * public API of the client library.
 *
 * `?proactive=off` turns off the early renewal, so that the access token really expires and the
 * next call renews it on its 401.
 */
import {
  BatonError,
  createClient,
  type AuthState,
  type EventKind,
  type EventList,
  type Session,
} from "./client.js";

const params = new URLSearchParams(location.search);
const client = createClient({ proactiveRefresh: params.get("proactive") !== "off" });
(globalThis as { batonDemo?: unknown }).batonDemo = { client };

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

let renewals = 0;

function say(text: string, kind: "ok" | "error" | "" = "") {
  const m = $("message");
  m.textContent = text;
  m.className = kind;
}

function explain(e: unknown): string {
  if (e instanceof BatonError) return e.description ?? e.code;
  return e instanceof Error ? e.message : String(e);
}

function render(state: AuthState) {
  $("signed-out").hidden = state.status !== "signed-out";
  $("signed-in").hidden = state.status !== "signed-in";
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
  if (s.status !== "signed-in") return;
  const left = Math.max(0, s.accessTokenExpiresAt - Date.now());
  lifetime = Math.max(lifetime, left);
  $("ttl").textContent = `${(left / 1000).toFixed(1)} s`;
  $("ttl-bar").style.width = `${Math.round((100 * left) / lifetime)}%`;
  $("renewals").textContent = String(renewals);
}
setInterval(tick, 200);

const when = (iso: string) => new Date(iso).toLocaleString();

async function loadSessions() {
  const body = $("sessions");
  let sessions: Session[];
  try {
    sessions = await client.sessions();
  } catch (e) {
    say(`Could not list sessions: ${explain(e)}`, "error");
    return;
  }
  body.replaceChildren(
    ...sessions.map((s) => {
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
          if (client.state.status === "signed-in") await loadSessions();
        } catch (e) {
          say(`Could not revoke: ${explain(e)}`, "error");
        }
      });
      td.append(button);
      tr.append(td);
      return tr;
    }),
  );
}

const ACTIVITY: Partial<Record<EventKind, string>> = {
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
};

async function loadEvents() {
  const body = $("events");
  let events: EventList["events"];
  try {
    const res = await client.fetch("/auth/events?limit=10");
    if (!res.ok) throw new BatonError(res.status, "http_error");
    events = ((await res.json()) as EventList).events;
  } catch (e) {
    say(`Could not load the recent activity: ${explain(e)}`, "error");
    return;
  }
  body.replaceChildren(
    ...events.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.type = e.type;
      for (const text of [when(e.at), ACTIVITY[e.type] ?? e.type, e.ip ?? "—", e.user_agent ?? "—"]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

function busy(form: HTMLFormElement, on: boolean) {
  for (const b of form.querySelectorAll("button")) b.disabled = on;
}

$<HTMLFormElement>("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  busy(form, true);
  try {
    const user = await client.login(
      $<HTMLInputElement>("login-username").value,
      $<HTMLInputElement>("login-password").value,
    );
    form.reset();
    say(`Welcome, ${user.username}.`, "ok");
  } catch (e) {
    say(explain(e), "error");
  } finally {
    busy(form, false);
  }
});

$<HTMLFormElement>("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const username = $<HTMLInputElement>("register-username").value;
  const password = $<HTMLInputElement>("register-password").value;
  const email = $<HTMLInputElement>("register-email").value.trim();
  busy(form, true);
  try {
    await client.register(username, password, email === "" ? {} : { email });
    await client.login(username, password);
    form.reset();
    say(`Account created. Welcome, ${username}.`, "ok");
  } catch (e) {
    const taken =
      e instanceof BatonError && e.code === "username_taken"
        ? "That username is taken."
        : e instanceof BatonError && e.code === "email_taken"
          ? "That e-mail address belongs to another account."
          : explain(e);
    say(taken, "error");
  } finally {
    busy(form, false);
  }
});

$("forgot-link").addEventListener("click", () => {
  $("forgot-form").hidden = false;
  $<HTMLInputElement>("forgot-account").focus();
});

$<HTMLFormElement>("forgot-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const account = $<HTMLInputElement>("forgot-account").value.trim();
  busy(form, true);
  try {
    await client.forgotPassword(account.includes("@") ? { email: account } : { username: account });
    form.reset();
    form.hidden = true;
    say("If that account has a confirmed e-mail address, a reset link is on its way.", "ok");
  } catch (e) {
    say(explain(e), "error");
  } finally {
    busy(form, false);
  }
});

/** The token of a mailed link (`#reset=…`, `#verify=…`), taken out of the address bar so it
 *  stays out of the history and of screenshots. */
function linkToken(kind: "reset" | "verify"): string | null {
  const m = new RegExp(`^#${kind}=([A-Za-z0-9_-]+)$`).exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return m[1]!;
}

let resetToken: string | null = null;

$<HTMLFormElement>("reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  if (resetToken === null) return;
  busy(form, true);
  try {
    await client.resetPassword(resetToken, $<HTMLInputElement>("reset-password").value);
    resetToken = null;
    form.reset();
    form.hidden = true;
    say("Your password is set. Log in with it.", "ok");
  } catch (e) {
    const gone = e instanceof BatonError && e.code === "invalid_token";
    say(gone ? "This reset link is used or expired. Ask for a new one." : explain(e), "error");
    if (gone) form.hidden = true;
  } finally {
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
    $<HTMLInputElement>("reset-password").focus();
  }
  const verify = linkToken("verify");
  if (verify !== null) {
    try {
      await client.verifyEmail(verify);
      say("Your e-mail address is confirmed.", "ok");
    } catch (e) {
      const gone = e instanceof BatonError && e.code === "invalid_token";
      say(gone ? "This confirmation link is used or expired." : explain(e), "error");
    }
    render(client.state);
  }
}

addEventListener("hashchange", () => void followLink());

$<HTMLFormElement>("email-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  busy(form, true);
  try {
    await client.setEmail($<HTMLInputElement>("email-address").value, $<HTMLInputElement>("email-password").value);
    form.reset();
    say("Saved. Follow the link we mailed to confirm the address.", "ok");
    render(client.state);
    await loadEvents();
  } catch (e) {
    const why =
      e instanceof BatonError && e.code === "invalid_credentials"
        ? "The current password is not right."
        : e instanceof BatonError && e.code === "email_taken"
          ? "That e-mail address belongs to another account."
          : explain(e);
    say(why, "error");
  } finally {
    busy(form, false);
  }
});

$<HTMLFormElement>("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  busy(form, true);
  try {
    await client.changePassword(
      $<HTMLInputElement>("current-password").value,
      $<HTMLInputElement>("new-password").value,
    );
    form.reset();
    say("Password changed. Your other sessions are signed out.", "ok");
    await loadSessions();
    await loadEvents();
  } catch (e) {
    const wrong = e instanceof BatonError && e.code === "invalid_credentials";
    say(wrong ? "The current password is not right." : explain(e), "error");
  } finally {
    busy(form, false);
  }
});

$("call-me").addEventListener("click", async () => {
  const out = $("me-output");
  try {
    const res = await client.fetch("/api/me");
    out.textContent = `${res.status} ${JSON.stringify(await res.json(), null, 2)}`;
  } catch (e) {
    out.textContent = `Request failed: ${explain(e)}`;
  }
});

$("load-sessions").addEventListener("click", () => void loadSessions());
$("load-events").addEventListener("click", () => void loadEvents());

$("logout").addEventListener("click", async () => {
  await client.logout();
  say("Logged out.", "ok");
});

$("logout-all").addEventListener("click", async () => {
  try {
    await client.logoutAll();
    say("Logged out of every session.", "ok");
  } catch (e) {
    say(explain(e), "error");
  }
});

client.onChange((state, reason) => {
  if (reason === "refresh") renewals += 1;
  if (reason === "login") renewals = 0;
  if (reason === "login" || reason === "refresh") lifetime = 1;
  if (state.status === "signed-out" && reason !== "logout" && reason !== "restore") say("Your session has ended. Please log in again.", "error");
  if (state.status === "signed-out" && reason === "logout") say("Logged out.", "ok");
  render(state);
  if (reason === "login") {
    void loadSessions();
    void loadEvents();
  }
});

render(client.state);
void client.restore().then(async (signedIn) => {
  await followLink();
  render(client.state);
  if (signedIn) {
    void loadSessions();
    void loadEvents();
  }
  document.body.dataset.ready = "true";
});
