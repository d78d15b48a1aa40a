import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient, type AuthState, type BatonClient, type ChangeReason, type ClientOptions } from "../src/client";
import { FakeBaton } from "./fake-baton";

const BASE = "http://baton.test";
const USER = "alice";
const PASSWORD = "correct horse battery";

let fake: FakeBaton;
const clients: BatonClient[] = [];

function makeClient(extra: Partial<ClientOptions> = {}): BatonClient {
  const c = createClient({ baseUrl: BASE, fetch: fake.fetch, crossTab: false, ...extra });
  clients.push(c);
  return c;
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser(USER, PASSWORD);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.useRealTimers();
});

const bearer = (path: string) => fake.requests(path).map((r) => r.headers.get("Authorization"));

describe("where the access token goes (finding 16)", () => {
  it("only to baton's own origin and the listed API origins", async () => {
    const client = makeClient({ apiOrigins: ["http://api.test"] });
    await client.login(USER, PASSWORD);
    await client.fetch("http://baton.test/api/me");
    await client.fetch("http://api.test/api/me");
    await client.fetch("http://tracker.test/collect");
    await client.fetch("http://api.test.evil.test/steal");
    const sent = fake.log.map((r) => [new URL(r.url).origin, r.headers.get("Authorization") !== null]);
    expect(sent.filter(([o]) => o !== "http://baton.test" || true).slice(-4)).toEqual([
      ["http://baton.test", true],
      ["http://api.test", true],
      ["http://tracker.test", false],
      ["http://api.test.evil.test", false],
    ]);
  });

  it("a third-party 401 triggers no refresh", async () => {
    const client = makeClient();
    await client.login(USER, PASSWORD);
    fake.overrides.set(
      "/collect",
      () => new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 }),
    );
    const res = await client.fetch("http://tracker.test/collect");
    expect(res.status).toBe(401);
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(bearer("/collect")).toEqual([null]);
  });
});

describe("backing off (finding 16)", () => {
  it("after a 503, no refresh goes out until the pause has passed", async () => {
    let clock = 1_000_000;
    const client = makeClient({ now: () => clock, proactiveRefresh: false, random: () => 0.5 });
    await client.login(USER, PASSWORD);
    fake.expireAccessTokens();
    fake.overrides.set(
      "/auth/refresh",
      () => new Response(JSON.stringify({ error: "unavailable" }), { status: 503, headers: { "Retry-After": "1" } }),
    );
    clock += 900_000; // the access token has expired
    expect(await client.getAccessToken()).toBeNull();
    expect(await client.getAccessToken()).toBeNull();
    expect(fake.count("/auth/refresh")).toBe(1);
    clock += 1_001; // first pause: one second
    expect(await client.getAccessToken()).toBeNull();
    expect(fake.count("/auth/refresh")).toBe(2);
    clock += 1_001; // second pause: two seconds
    expect(await client.getAccessToken()).toBeNull();
    expect(fake.count("/auth/refresh")).toBe(2);
    fake.overrides.delete("/auth/refresh");
    clock += 1_000;
    expect(await client.getAccessToken()).not.toBeNull();
    expect(fake.count("/auth/refresh")).toBe(3);
    expect(client.state.status).toBe("signed-in");
  });

  it("a network error backs off too, keeps the session, and the client retries by itself", async () => {
    vi.useFakeTimers();
    const client = makeClient({ now: () => Date.now(), random: () => 0.5 });
    await client.login(USER, PASSWORD);
    fake.overrides.set("/auth/refresh", () => {
      throw new TypeError("Failed to fetch");
    });
    await vi.advanceTimersByTimeAsync(870_500); // the proactive refresh meets the outage
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(client.state.status).toBe("signed-in");
    fake.overrides.delete("/auth/refresh"); // the network is back
    await vi.advanceTimersByTimeAsync(1_100); // the retry after the pause (1 s with this jitter)
    expect(fake.count("/auth/refresh")).toBe(2);
    expect(client.state.status).toBe("signed-in");
    expect(client.state.status === "signed-in" && client.state.accessTokenExpiresAt).toBeGreaterThan(
      Date.now() + 800_000,
    );
  });

  it("pauses are jittered", async () => {
    const pauses: number[] = [];
    for (const r of [0, 0.99]) {
      let clock = 0;
      fake = new FakeBaton();
      fake.addUser(USER, PASSWORD);
      const client = makeClient({ now: () => clock, proactiveRefresh: false, random: () => r });
      await client.login(USER, PASSWORD);
      fake.overrides.set("/auth/refresh", () => new Response("{}", { status: 503 }));
      clock += 900_000;
      await client.getAccessToken();
      let waited = 0;
      while (fake.count("/auth/refresh") < 2 && waited < 5_000) {
        clock += 50;
        waited += 50;
        await client.getAccessToken();
      }
      pauses.push(waited);
    }
    expect(pauses[0]).toBeLessThan(pauses[1]);
  });
});

describe("the state before restore settles (finding 16)", () => {
  it("is unknown, then signed-out without an 'expired' event when there is no session", async () => {
    const client = makeClient();
    const events: Array<[AuthState, ChangeReason]> = [];
    client.onChange((s, r) => events.push([s, r]));
    expect(client.state).toEqual({ status: "unknown" });
    expect(await client.restore()).toBe(false);
    expect(client.state).toEqual({ status: "signed-out" });
    expect(events).toEqual([[{ status: "signed-out" }, "restore"]]);
  });

  it("stays unknown through an outage and signs in by itself once it is over", async () => {
    vi.useFakeTimers();
    const first = makeClient({ now: () => Date.now() });
    await first.login(USER, PASSWORD);
    first.close();
    fake.overrides.set("/auth/refresh", () => {
      throw new TypeError("Failed to fetch");
    });
    const page = makeClient({ now: () => Date.now(), random: () => 0.5 });
    expect(await page.restore()).toBe(false);
    expect(page.state.status).toBe("unknown");
    fake.overrides.delete("/auth/refresh");
    await vi.advanceTimersByTimeAsync(1_100);
    expect(page.state.status).toBe("signed-in");
  });

  it("is unknown, then signed-in when the cookie holds a session", async () => {
    const first = makeClient();
    await first.login(USER, PASSWORD);
    const reloaded = makeClient();
    expect(reloaded.state.status).toBe("unknown");
    expect(await reloaded.restore()).toBe(true);
    expect(reloaded.state.status).toBe("signed-in");
  });
});
