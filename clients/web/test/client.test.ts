import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BatonError, createClient, type AuthState, type BatonClient, type ChangeReason, type ClientOptions } from "../src/client";
import { FakeBaton, decodePayload } from "./fake-baton";

const BASE = "http://baton.test";
const ME = "http://api.test/api/me";
const USER = "alice";
const PASSWORD = "correct horse battery";

let fake: FakeBaton;
const clients: BatonClient[] = [];

function makeClient(extra: Partial<ClientOptions> = {}): BatonClient {
  const c = createClient({
    baseUrl: BASE,
    fetch: fake.fetch,
    crossTab: false,
    apiOrigins: ["http://api.test"],
    ...extra,
  });
  clients.push(c);
  return c;
}

/** A client signed in as alice. */
async function signedIn(extra: Partial<ClientOptions> = {}): Promise<BatonClient> {
  const c = makeClient(extra);
  await c.login(USER, PASSWORD);
  return c;
}

function record(c: BatonClient): Array<[AuthState, ChangeReason]> {
  const events: Array<[AuthState, ChangeReason]> = [];
  c.onChange((s, r) => events.push([s, r]));
  return events;
}

function bearerOf(headers: Headers): string | null {
  return headers.get("Authorization")?.replace(/^Bearer /, "") ?? null;
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser(USER, PASSWORD);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.useRealTimers();
});

describe("single-flight refresh", () => {
  it("50 parallel fetches that all get 401 invalid_token trigger exactly one refresh and all succeed after one retry each", async () => {
    const client = await signedIn();
    const oldToken = await client.getAccessToken();
    fake.expireAccessTokens();
    const release = fake.holdRefresh();

    const all = Promise.all(Array.from({ length: 50 }, () => client.fetch(ME)));
    // Every first attempt has been answered 401 and the one refresh is waiting on the server.
    await vi.waitFor(() => {
      expect(fake.count("/api/me")).toBe(50);
      expect(fake.count("/auth/refresh")).toBe(1);
    });
    release();
    const responses = await all;

    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(100);
    const newToken = await client.getAccessToken();
    expect(newToken).not.toBe(oldToken);
    const sent = fake.requests("/api/me").map((r) => bearerOf(r.headers));
    expect(sent.filter((t) => t === oldToken)).toHaveLength(50);
    expect(sent.filter((t) => t === newToken)).toHaveLength(50);
    const bodies = await Promise.all(responses.map((r) => r.json()));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it("50 parallel fetches still trigger one refresh when the refresh answers at once", async () => {
    const client = await signedIn();
    fake.expireAccessTokens();
    const responses = await Promise.all(Array.from({ length: 50 }, () => client.fetch(ME)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(100);
  });

  it("50 parallel fetches with a locally expired token refresh once before sending, with no 401 round trip", async () => {
    let clock = 1_000_000;
    const client = await signedIn({ now: () => clock, proactiveRefresh: false });
    clock += 901_000; // past expires_in 900
    fake.expireAccessTokens();
    const responses = await Promise.all(Array.from({ length: 50 }, () => client.fetch(ME)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(50);
  });

  it("50 parallel getAccessToken calls share one refresh and return the same token", async () => {
    let clock = 1_000_000;
    const client = await signedIn({ now: () => clock, proactiveRefresh: false });
    clock += 901_000;
    const tokens = await Promise.all(Array.from({ length: 50 }, () => client.getAccessToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).toBeTruthy();
    expect(fake.count("/auth/refresh")).toBe(1);
  });
});

describe("retry policy", () => {
  it("retries once only: a retried request that is still 401 invalid_token is returned without another refresh", async () => {
    const client = await signedIn();
    // Every bearer token is refused, including the refreshed one.
    fake.overrides.set("/api/me", () =>
      new Response(JSON.stringify({ error: "invalid_token", error_description: "Token has expired" }), {
        status: 401,
        headers: {
          "Content-Type": "application/json",
          "WWW-Authenticate": 'Bearer realm="baton", error="invalid_token", error_description="Token has expired"',
        },
      }),
    );
    const res = await client.fetch(ME);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: "invalid_token" });
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(2);
    // The client is still signed in (the refresh itself worked).
    expect(client.state.status).toBe("signed-in");
  });

  it("does not loop when the refresh itself fails: the original 401 comes back and the client signs out with reason expired", async () => {
    const client = await signedIn();
    const events = record(client);
    fake.expireAccessTokens();
    fake.refreshFailure = "Refresh token has expired";

    const res = await client.fetch(ME);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
    expect(await res.json()).toEqual({ error: "invalid_token", error_description: "Token has expired" });
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(1);
    expect(client.state).toEqual({ status: "signed-out" });
    expect(events).toEqual([[{ status: "signed-out" }, "expired"]]);

    // A later fetch goes out without a token and does not loop. (While signed out the client
    // tries the cookie at most once per call, through getAccessToken.)
    const refreshesBefore = fake.count("/auth/refresh");
    const later = await client.fetch(ME);
    expect(later.status).toBe(401);
    expect(await later.json()).toMatchObject({ error: "missing_token" });
    const last = fake.requests("/api/me").at(-1)!;
    expect(last.headers.has("Authorization")).toBe(false);
    expect(fake.count("/api/me")).toBe(2);
    expect(fake.count("/auth/refresh") - refreshesBefore).toBeLessThanOrEqual(1);
    expect(events).toHaveLength(1); // no second "expired" while already signed out
  });

  it("a refresh answered 401 invalid_request (no cookie) also signs out without looping", async () => {
    const client = await signedIn();
    fake.expireAccessTokens();
    fake.cookie = null; // the cookie is gone (cleared by the user, expired in the browser…)
    const res = await client.fetch(ME);
    expect(res.status).toBe(401);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(client.state.status).toBe("signed-out");
  });

  it("a refresh that fails with a 5xx returns the original 401 and keeps the state", async () => {
    const client = await signedIn();
    fake.expireAccessTokens();
    fake.overrides.set("/auth/refresh", () =>
      new Response(JSON.stringify({ error: "unavailable" }), { status: 503, headers: { "Retry-After": "1" } }),
    );
    const res = await client.fetch(ME);
    expect(res.status).toBe(401);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(1);
    expect(client.state.status).toBe("signed-in");
  });

  it.each([
    [
      "401 missing_token",
      401,
      { error: "missing_token", error_description: "No token provided" },
      { "WWW-Authenticate": 'Bearer realm="baton"' },
    ],
    ["401 invalid_request", 401, { error: "invalid_request" }, { "WWW-Authenticate": 'Bearer realm="baton", error="invalid_request"' }],
    ["403 insufficient_scope", 403, { error: "insufficient_scope" }, { "WWW-Authenticate": 'Bearer realm="baton", error="insufficient_scope"' }],
    ["403 that says invalid_token", 403, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer realm="baton", error="invalid_token"' }],
    ["401 with a non-JSON body", 401, "nope", {}],
  ])("a %s is returned as-is, without refresh", async (_name, status, body, headers) => {
    const client = await signedIn();
    fake.overrides.set("/api/me", () =>
      new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers }),
    );
    const res = await client.fetch(ME);
    expect(res.status).toBe(status);
    expect(await res.text()).toBe(typeof body === "string" ? body : JSON.stringify(body));
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(fake.count("/api/me")).toBe(1);
    expect(client.state.status).toBe("signed-in");
  });

  it("a 401 whose body alone says invalid_token (no challenge header) triggers the refresh", async () => {
    const client = await signedIn();
    let calls = 0;
    fake.overrides.set("/api/me", () =>
      ++calls === 1
        ? new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 })
        : new Response("{}", { status: 200 }),
    );
    const res = await client.fetch(ME);
    expect(res.status).toBe(200);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(2);
  });

  it("successful responses are returned untouched, with the bearer token attached", async () => {
    const client = await signedIn();
    const res = await client.fetch(ME, { headers: { Accept: "application/json" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sub: string; username: string; session_id: string };
    expect(body.username).toBe(USER);
    const sent = fake.requests("/api/me")[0]!;
    expect(bearerOf(sent.headers)).toBe(await client.getAccessToken());
    expect(sent.headers.get("Accept")).toBe("application/json");
    expect(fake.count("/auth/refresh")).toBe(0);
  });
});

describe("request replay", () => {
  it("replays a POST body identically on the retry after a refresh", async () => {
    const client = await signedIn();
    fake.expireAccessTokens();
    const payload = JSON.stringify({ note: "héllo ✓", n: [1, 2, 3] });
    const res = await client.fetch("http://api.test/api/echo", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Trace": "t-1" },
      body: payload,
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(payload);
    const sent = fake.requests("/api/echo");
    expect(sent).toHaveLength(2);
    expect(sent.map((r) => r.body)).toEqual([payload, payload]);
    expect(sent.map((r) => r.method)).toEqual(["POST", "POST"]);
    expect(sent.map((r) => r.headers.get("X-Trace"))).toEqual(["t-1", "t-1"]);
    expect(sent.map((r) => r.headers.get("Content-Type"))).toEqual(["application/json", "application/json"]);
    expect(bearerOf(sent[0]!.headers)).not.toBe(bearerOf(sent[1]!.headers));
    expect(fake.count("/auth/refresh")).toBe(1);
  });

  it("replays a binary body passed in a Request object", async () => {
    const client = await signedIn();
    fake.expireAccessTokens();
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252]);
    const req = new Request("http://api.test/api/echo", {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream" },
      body: bytes,
    });
    const res = await client.fetch(req);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    const sent = fake.requests("/api/echo");
    expect(sent).toHaveLength(2);
    expect(sent[0]!.bytes).toEqual(bytes);
    expect(sent[1]!.bytes).toEqual(bytes);
    expect(sent.map((r) => r.method)).toEqual(["PUT", "PUT"]);
  });
});

describe("state and events", () => {
  it("login emits signed-in with the user decoded from the token", async () => {
    const clock = 5_000_000;
    const client = makeClient({ now: () => clock, proactiveRefresh: false });
    const events = record(client);
    expect(client.state).toEqual({ status: "unknown" });

    const result = await client.login(USER, PASSWORD);
    const claims = decodePayload((await client.getAccessToken())!);
    const expected = { id: claims.sub, username: USER, sessionId: claims.sid };
    expect(result).toEqual({ status: "signed-in", user: expected });
    expect(String(expected.sessionId)).toMatch(/^sid-/);
    expect(client.state).toEqual({ status: "signed-in", user: expected, accessTokenExpiresAt: clock + 900_000 });
    expect(events).toEqual([[client.state, "login"]]);
  });

  it("a refresh emits refresh, logout emits logout and signs out", async () => {
    const client = await signedIn();
    const events = record(client);
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(200);
    expect(events.map(([s, r]) => [s.status, r])).toEqual([["signed-in", "refresh"]]);
    const afterRefresh = events[0]![0];
    expect(afterRefresh.status === "signed-in" && afterRefresh.user.username).toBe(USER);

    await client.logout();
    expect(client.state).toEqual({ status: "signed-out" });
    expect(events.map(([s, r]) => [s.status, r])).toEqual([
      ["signed-in", "refresh"],
      ["signed-out", "logout"],
    ]);
    expect(await client.getAccessToken()).toBeNull();
  });

  it("unsubscribe stops events", async () => {
    const client = makeClient();
    const seen: ChangeReason[] = [];
    const off = client.onChange((_s, r) => seen.push(r));
    await client.login(USER, PASSWORD);
    off();
    await client.logout();
    expect(seen).toEqual(["login"]);
  });

  it("a throwing listener does not break the others nor the login", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const client = makeClient();
    const before: ChangeReason[] = [];
    const after: ChangeReason[] = [];
    client.onChange((_s, r) => before.push(r));
    client.onChange(() => {
      throw new Error("boom");
    });
    client.onChange((_s, r) => after.push(r));
    await expect(client.login(USER, PASSWORD)).resolves.toMatchObject({ status: "signed-in", user: { username: USER } });
    await client.logout();
    expect(before).toEqual(["login", "logout"]);
    expect(after).toEqual(["login", "logout"]);
    expect(error).toHaveBeenCalled();
  });

  it("logout signs out even when the network fails, and the error surfaces", async () => {
    const client = await signedIn();
    fake.overrides.set("/auth/logout", () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(client.logout()).rejects.toThrow("Failed to fetch");
    expect(client.state.status).toBe("signed-out");
  });

  it("logoutAll revokes every session and signs out", async () => {
    const client = await signedIn();
    fake.loginElsewhere(USER);
    expect(fake.sessionIds()).toHaveLength(2);
    await client.logoutAll();
    expect(fake.sessionIds()).toHaveLength(0);
    expect(client.state.status).toBe("signed-out");
    expect(fake.count("/auth/logout-all")).toBe(1);
    expect(fake.count("/auth/logout")).toBe(1);
  });
});

describe("changePassword", () => {
  it("sends the two passwords with the bearer token and keeps this session", async () => {
    const client = await signedIn();
    fake.loginElsewhere(USER);
    await client.changePassword(PASSWORD, "a new password entirely");
    const sent = fake.requests("/auth/password")[0]!;
    expect(sent.method).toBe("POST");
    expect(sent.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(sent.headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(sent.body)).toEqual({
      current_password: PASSWORD,
      new_password: "a new password entirely",
    });
    expect(fake.sessionIds()).toHaveLength(1);
    expect(client.state.status).toBe("signed-in");
  });

  it("surfaces a wrong current password and a refused new one as BatonErrors, still signed in", async () => {
    const client = await signedIn();
    await expect(client.changePassword("wrong password", "a new password entirely")).rejects.toMatchObject({
      status: 401,
      code: "invalid_credentials",
    });
    await expect(client.changePassword(PASSWORD, "short")).rejects.toMatchObject({
      status: 400,
      code: "invalid_request",
      description: "Invalid password: password must be at least 8 characters",
    });
    // A 401 that is no invalid_token is not taken for an expired access token.
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(client.state.status).toBe("signed-in");
  });
});

describe("e-mail and password reset", () => {
  it("register sends an address only when given", async () => {
    const client = makeClient();
    await expect(client.register("nomail", PASSWORD)).resolves.toEqual({ id: expect.any(String), username: "nomail" });
    expect(JSON.parse(fake.requests("/auth/register")[0]!.body)).toEqual({ username: "nomail", password: PASSWORD });
    await expect(client.register("withmail", PASSWORD, { email: " w@example.com " })).resolves.toMatchObject({
      email: "w@example.com",
    });
    expect(JSON.parse(fake.requests("/auth/register")[1]!.body)).toEqual({
      username: "withmail",
      password: PASSWORD,
      email: " w@example.com ",
    });
  });

  it("setEmail then verifyEmail show in the user as the renewed token has it", async () => {
    const client = await signedIn();
    expect(client.state.status === "signed-in" && client.state.user.email).toBe(undefined);
    await client.setEmail("alice@example.com", PASSWORD);
    const put = fake.requests("/auth/email")[0]!;
    expect(put.method).toBe("PUT");
    expect(put.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(JSON.parse(put.body)).toEqual({ email: "alice@example.com", current_password: PASSWORD });
    let s = client.state;
    expect(s.status === "signed-in" && [s.user.email, s.user.emailVerified]).toEqual(["alice@example.com", false]);
    const [token] = [...fake.verifyTokens.keys()];
    await client.verifyEmail(token!);
    s = client.state;
    expect(s.status === "signed-in" && s.user.emailVerified).toBe(true);
    await expect(client.verifyEmail(token!)).rejects.toMatchObject({ status: 400, code: "invalid_token" });
    await expect(client.setEmail("x@example.com", "wrong password")).rejects.toMatchObject({
      status: 401,
      code: "invalid_credentials",
    });
  });

  it("forgotPassword resolves for anyone; resetPassword sets the password once", async () => {
    const client = await signedIn();
    await client.setEmail("alice@example.com", PASSWORD);
    await client.verifyEmail([...fake.verifyTokens.keys()][0]!);
    await client.forgotPassword({ username: "nobody" });
    expect(fake.resetTokens.size).toBe(0);
    await client.forgotPassword({ email: "ALICE@example.com" });
    expect(JSON.parse(fake.requests("/auth/password/forgot")[1]!.body)).toEqual({ email: "ALICE@example.com" });
    const [token] = [...fake.resetTokens.keys()];
    await client.resetPassword(token!, "a brand new password");
    expect(JSON.parse(fake.requests("/auth/password/reset")[0]!.body)).toEqual({
      token,
      new_password: "a brand new password",
    });
    expect(fake.sessionIds()).toHaveLength(0);
    await expect(client.resetPassword(token!, "another new password")).rejects.toMatchObject({
      status: 400,
      code: "invalid_token",
    });
    await expect(client.login(USER, "a brand new password")).resolves.toMatchObject({ status: "signed-in", user: { username: USER } });
  });
});

describe("cookie delivery and what the client keeps", () => {
  it("login asks for cookie delivery with credentials include; refresh and logout send X-Requested-With and include credentials", async () => {
    const client = await signedIn();
    const login = fake.requests("/auth/login")[0]!;
    expect(login.method).toBe("POST");
    expect(login.credentials).toBe("include");
    expect(JSON.parse(login.body)).toEqual({ username: USER, password: PASSWORD, delivery: "cookie" });
    expect(login.headers.get("Content-Type")).toBe("application/json");

    fake.expireAccessTokens();
    await client.fetch(ME);
    const refresh = fake.requests("/auth/refresh")[0]!;
    expect(refresh.method).toBe("POST");
    expect(refresh.credentials).toBe("include");
    expect(refresh.headers.get("X-Requested-With")).toBe("baton");
    expect(refresh.body).toBe(""); // the refresh token rides in the cookie only

    await client.logout();
    const logout = fake.requests("/auth/logout")[0]!;
    expect(logout.method).toBe("POST");
    expect(logout.credentials).toBe("include");
    expect(logout.headers.get("X-Requested-With")).toBe("baton");
    expect(logout.body).toBe("");
    expect(fake.cookie).toBeNull();
  });

  describe("with storage that must not be touched", () => {
    const names = ["localStorage", "sessionStorage", "indexedDB", "document"] as const;
    const touched: string[] = [];
    const saved = new Map<string, PropertyDescriptor | undefined>();

    beforeEach(() => {
      touched.length = 0;
      for (const n of names) {
        saved.set(n, Object.getOwnPropertyDescriptor(globalThis, n));
        Object.defineProperty(globalThis, n, {
          configurable: true,
          get() {
            touched.push(n);
            throw new Error(`the client must not use ${n}`);
          },
        });
      }
    });

    afterEach(() => {
      for (const n of names) {
        const d = saved.get(n);
        if (d) Object.defineProperty(globalThis, n, d);
        else delete (globalThis as Record<string, unknown>)[n];
      }
    });

    it("never touches localStorage, sessionStorage, indexedDB or document, and never sees the refresh token", async () => {
      const client = await signedIn();
      const firstCookie = fake.cookie!;
      expect(firstCookie).toBeTruthy();
      fake.expireAccessTokens();
      expect((await client.fetch(ME)).status).toBe(200); // refresh
      const secondCookie = fake.cookie!;
      expect(secondCookie).not.toBe(firstCookie);
      await client.getAccessToken();
      await client.sessions();

      // Nothing the client keeps or exposes contains a refresh token.
      const exposed = JSON.stringify(client.state) + (await client.getAccessToken());
      expect(exposed).not.toContain(firstCookie);
      expect(exposed).not.toContain(secondCookie);
      // And nothing it sends carries one outside the (browser-managed) cookie.
      for (const r of fake.log) {
        expect(r.body).not.toContain("rt-");
        expect([...r.headers.values()].join(" ")).not.toContain("rt-");
      }
      // The login answers in cookie mode carried none either.
      await client.logout();
      expect(touched).toEqual([]);
    });
  });
});

describe("proactive refresh", () => {
  it("refreshes at three quarters of a short lifetime (lead = min(margin, lifetime / 4))", async () => {
    vi.useFakeTimers();
    fake.accessTtl = 100;
    const client = await signedIn({ now: () => Date.now(), refreshMargin: 30 });
    const events = record(client);

    await vi.advanceTimersByTimeAsync(74_000);
    expect(fake.count("/auth/refresh")).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(events.map(([, r]) => r)).toEqual(["refresh"]);
    const s = client.state;
    expect(s.status === "signed-in" && s.accessTokenExpiresAt - Date.now()).toBeGreaterThan(98_000);

    // The next one is scheduled from the new token: again 75 s later.
    await vi.advanceTimersByTimeAsync(73_000);
    expect(fake.count("/auth/refresh")).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(fake.count("/auth/refresh")).toBe(2);
  });

  it("uses the margin when it is below a quarter of the lifetime", async () => {
    vi.useFakeTimers();
    const client = await signedIn({ now: () => Date.now(), refreshMargin: 30 }); // 900 s tokens
    await vi.advanceTimersByTimeAsync(869_000);
    expect(fake.count("/auth/refresh")).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(client.state.status).toBe("signed-in");
  });

  it("does not refresh on its own with proactiveRefresh false, but renews lazily", async () => {
    vi.useFakeTimers();
    fake.accessTtl = 100;
    const client = await signedIn({ now: () => Date.now(), refreshMargin: 30, proactiveRefresh: false });
    await vi.advanceTimersByTimeAsync(200_000);
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(client.state.status).toBe("signed-in");
    // The token is past its end: the next call renews it first.
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(200);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(1);
  });

  it("a failing background refresh signs out with reason expired and stops", async () => {
    vi.useFakeTimers();
    fake.accessTtl = 100;
    const client = await signedIn({ now: () => Date.now() });
    const events = record(client);
    fake.refreshFailure = "Refresh token has been revoked";
    await vi.advanceTimersByTimeAsync(76_000);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(client.state.status).toBe("signed-out");
    expect(events.map(([, r]) => r)).toEqual(["expired"]);
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(fake.count("/auth/refresh")).toBe(1);
  });

  it("close() stops the timer", async () => {
    vi.useFakeTimers();
    fake.accessTtl = 100;
    const client = await signedIn({ now: () => Date.now() });
    client.close();
    await vi.advanceTimersByTimeAsync(500_000);
    expect(fake.count("/auth/refresh")).toBe(0);
  });
});

describe("restore()", () => {
  it("signs back in from a valid cookie on page load", async () => {
    const first = await signedIn();
    const sid = first.state.status === "signed-in" ? first.state.user.sessionId : "";
    first.close(); // the page goes away; the cookie stays in the browser

    const page = makeClient();
    const events = record(page);
    expect(page.state.status).toBe("unknown");
    await expect(page.restore()).resolves.toBe(true);
    expect(page.state).toMatchObject({ status: "signed-in", user: { username: USER, sessionId: sid } });
    expect(events.map(([, r]) => r)).toEqual(["refresh"]);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect((await page.fetch(ME)).status).toBe(200);
    // Already signed in: no further refresh.
    await expect(page.restore()).resolves.toBe(true);
    expect(fake.count("/auth/refresh")).toBe(1);
  });

  it("resolves false and stays signed out when the refresh is refused", async () => {
    await signedIn();
    fake.refreshFailure = "Refresh token has expired";
    const page = makeClient();
    const events = record(page);
    await expect(page.restore()).resolves.toBe(false);
    expect(page.state).toEqual({ status: "signed-out" });
    // Finding no session on page load is reported as such, not as a session that expired.
    expect(events).toEqual([[{ status: "signed-out" }, "restore"]]);
  });

  it("resolves false when there is no cookie at all", async () => {
    const page = makeClient();
    await expect(page.restore()).resolves.toBe(false);
    expect(page.state.status).toBe("signed-out");
  });

  it("resolves false when the network fails", async () => {
    fake.overrides.set("/auth/refresh", () => {
      throw new TypeError("Failed to fetch");
    });
    const page = makeClient();
    await expect(page.restore()).resolves.toBe(false);
  });

  it("concurrent restore() calls share one refresh", async () => {
    await signedIn();
    const page = makeClient();
    const results = await Promise.all([page.restore(), page.restore(), page.restore()]);
    expect(results).toEqual([true, true, true]);
    expect(fake.count("/auth/refresh")).toBe(1);
  });
});

describe("sessions", () => {
  it("lists the sessions with the current one marked", async () => {
    const client = await signedIn();
    const other = fake.loginElsewhere(USER);
    const list = await client.sessions();
    expect(list.map((s) => s.id).sort()).toEqual(fake.sessionIds().sort());
    const own = client.state.status === "signed-in" ? client.state.user.sessionId : "";
    expect(list.find((s) => s.current)?.id).toBe(own);
    expect(list.find((s) => s.id === other)?.current).toBe(false);
  });

  it("revoking another session keeps this one signed in", async () => {
    const client = await signedIn();
    const events = record(client);
    const other = fake.loginElsewhere(USER);
    await client.revokeSession(other);
    expect(fake.isRevoked(other)).toBe(true);
    expect(client.state.status).toBe("signed-in");
    expect(events).toEqual([]);
    expect(fake.count("/auth/logout")).toBe(0);
  });

  it("revoking the current session signs out", async () => {
    const client = await signedIn();
    const events = record(client);
    const own = client.state.status === "signed-in" ? client.state.user.sessionId : "";
    await client.revokeSession(own);
    expect(fake.isRevoked(own)).toBe(true);
    expect(client.state).toEqual({ status: "signed-out" });
    expect(events.map(([s, r]) => [s.status, r])).toEqual([["signed-out", "logout"]]);
    expect(fake.requests("/auth/sessions/" + own)[0]?.method).toBe("DELETE");
  });

  it("revoking an unknown session throws a BatonError 404 and keeps the state", async () => {
    const client = await signedIn();
    const err = await client.revokeSession("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 404, code: "not_found" });
    expect(client.state.status).toBe("signed-in");
  });
});

describe("BatonError", () => {
  it("carries status, code and description of a failed login", async () => {
    const client = makeClient();
    const err = await client.login(USER, "wrong password").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: "BatonError",
      status: 401,
      code: "invalid_credentials",
      description: "Invalid username or password",
      message: "invalid_credentials: Invalid username or password",
    });
    // A wrong password says nothing about a session the cookie may hold.
    expect(client.state.status).toBe("unknown");
    expect(fake.cookie).toBeNull();
  });

  it("has no description when the body has none (register: username taken)", async () => {
    const client = makeClient();
    await expect(client.register("bob", "password123")).resolves.toMatchObject({ username: "bob" });
    const err = await client.register("bob", "password123").catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, code: "username_taken", description: undefined, message: "username_taken" });
  });

  it("falls back to http_error when the body is not JSON", async () => {
    const client = makeClient();
    fake.overrides.set("/auth/login", () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    const err = await client.login(USER, PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 502, code: "http_error", description: "Bad Gateway" });
  });

  it("sessions() throws a BatonError when signed out", async () => {
    const client = makeClient();
    const err = await client.sessions().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, code: "missing_token" });
  });
});

describe("connected apps", () => {
  it("lists the applications the user allowed and disconnects one", async () => {
    const client = await signedIn();
    fake.allowApp(USER, "partner", ["openid", "profile"]);
    const apps = await client.connectedApps();
    expect(apps.map((a) => [a.client_id, a.scopes])).toEqual([["partner", ["openid", "profile"]]]);
    await client.disconnectApp("partner");
    expect(fake.requests("/auth/connected-apps/partner")[0]?.method).toBe("DELETE");
    expect(await client.connectedApps()).toEqual([]);
    expect(client.state.status).toBe("signed-in");
  });

  it("disconnecting an application the user never allowed throws a BatonError 404", async () => {
    const client = await signedIn();
    const err = await client.disconnectApp("nobody").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 404, code: "not_found" });
  });
});
