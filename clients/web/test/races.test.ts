// Interleavings of a refresh in flight with login and logout.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient, type BatonClient, type ChangeReason, type ClientOptions } from "../src/client";
import { FakeBaton } from "./fake-baton";

const ME = "http://api.test/api/me";
let fake: FakeBaton;
const clients: BatonClient[] = [];

function makeClient(extra: Partial<ClientOptions> = {}): BatonClient {
  const c = createClient({ baseUrl: "http://baton.test", fetch: fake.fetch, crossTab: false, apiOrigins: ["http://api.test"], ...extra });
  clients.push(c);
  return c;
}

const settle = () => new Promise((r) => setTimeout(r, 10));

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser("alice", "correct horse battery");
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.useRealTimers();
});

describe("refresh in flight", () => {
  // The race: `run()` in refresh() accepts its answer whatever happened meanwhile. logout() drops the
  // state, then the refresh answer (already rotated by the server before the logout revoked the
  // session) arrives and `accept()` signs the client back in, emits "refresh" after "logout",
  // schedules a proactive refresh and, with crossTab, broadcasts the token to every tab.
  it("logout while a refresh is in flight leaves the client signed out", async () => {
    const client = makeClient();
    const seen: ChangeReason[] = [];
    client.onChange((_s, r) => seen.push(r));
    await client.login("alice", "correct horse battery");
    fake.expireAccessTokens();
    // The server rotates at once, but its answer is slow to come back.
    const release = fake.holdRefresh({ after: true });
    const pending = client.fetch(ME);
    await settle();
    expect(fake.count("/auth/refresh")).toBe(1);

    await client.logout();
    expect(client.state.status).toBe("signed-out");

    release();
    await pending;
    await settle();
    expect(seen).toEqual(["login", "logout"]);
    expect(client.state.status).toBe("signed-out");
    expect(await client.getAccessToken()).toBeNull();
  });

  // The race: same root cause the other way round. A refresh that started while signed out (here from
  // fetch() -> getAccessToken(), carrying no cookie) fails after login() succeeded, and its
  // `drop("expired", true)` signs the fresh login out (and, with crossTab, every tab).
  it("a refresh that fails after a fresh login does not sign that login out", async () => {
    const client = makeClient();
    // Signed out (no cookie) and a call tries the cookie; its answer is slow.
    const release = fake.holdRefresh();
    const pending = client.fetch(ME);
    await settle();
    expect(fake.count("/auth/refresh")).toBe(1);

    // Meanwhile the user logs in. The stale refresh then comes back 401 (it carried no cookie).
    await client.login("alice", "correct horse battery");
    expect(client.state.status).toBe("signed-in");
    release();
    await pending;
    await settle();
    expect(client.state.status).toBe("signed-in");
  });

  // The race: close() clears the timer, but a refresh still in flight then completes through
  // accept() -> hold() -> schedule() and arms a new timer, so a closed client keeps renewing its
  // token in the background forever (and with crossTab, postMessage on the closed channel throws,
  // turning that successful refresh into a rejection).
  it("close() while a refresh is in flight leaves no background refresh behind", async () => {
    vi.useFakeTimers();
    fake.accessTtl = 100;
    const client = makeClient({ now: () => Date.now() });
    await client.login("alice", "correct horse battery");
    fake.expireAccessTokens();
    const release = fake.holdRefresh();
    const pending = client.fetch(ME);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.count("/auth/refresh")).toBe(1);
    client.close();
    release();
    await pending;
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(fake.count("/auth/refresh")).toBe(1);
  });
});
