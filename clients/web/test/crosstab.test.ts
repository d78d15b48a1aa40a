// Cross-tab coordination with Node's global BroadcastChannel: two client instances on one
// channel name stand for two tabs of one origin sharing one cookie jar (the fake). Node 20 has
// no navigator.locks, so the clients run without the Web Lock here; the lock itself is covered
// by the browser end-to-end tests in e2e/.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient, type BatonClient, type ChangeReason } from "../src/client";
import { FakeBaton } from "./fake-baton";

const ME = "http://api.test/api/me";
let fake: FakeBaton;
let channelName: string;
let seq = 0;
const clients: BatonClient[] = [];

function tab(): BatonClient {
  const c = createClient({ baseUrl: "http://baton.test", fetch: fake.fetch, crossTab: true, channelName, apiOrigins: ["http://api.test"] });
  clients.push(c);
  return c;
}

function reasons(c: BatonClient): ChangeReason[] {
  const seen: ChangeReason[] = [];
  c.onChange((_s, r) => seen.push(r));
  return seen;
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser("alice", "correct horse battery");
  channelName = `baton-test-${++seq}-${Math.random().toString(36).slice(2)}`;
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe("cross-tab over BroadcastChannel", () => {
  it.runIf(typeof BroadcastChannel !== "undefined")(
    "a login in one tab signs the other in, a refresh in one is adopted by the other, and logout signs both out",
    async () => {
      const a = tab();
      const b = tab();
      const seenB = reasons(b);

      await a.login("alice", "correct horse battery");
      await vi.waitFor(() => expect(b.state.status).toBe("signed-in"));
      expect(b.state).toEqual(a.state);
      expect(await b.getAccessToken()).toBe(await a.getAccessToken());

      // Tab A renews; tab B takes the new token without a refresh of its own.
      fake.expireAccessTokens();
      expect((await a.fetch(ME)).status).toBe(200);
      expect(fake.count("/auth/refresh")).toBe(1);
      const renewed = await a.getAccessToken();
      await vi.waitFor(async () => expect(await b.getAccessToken()).toBe(renewed));
      expect((await b.fetch(ME)).status).toBe(200);
      expect(fake.count("/auth/refresh")).toBe(1);
      expect(fake.count("/api/me")).toBe(3);

      await a.logout();
      await vi.waitFor(() => expect(b.state.status).toBe("signed-out"));
      expect(seenB).toEqual(["refresh", "refresh", "logout"]);
    },
  );

  it.runIf(typeof BroadcastChannel !== "undefined")(
    "a login finished with a second factor in one tab signs the other in",
    async () => {
      fake.addSecondFactor("alice", "123456");
      const a = tab();
      const b = tab();
      const seenB = reasons(b);
      const result = await a.login("alice", "correct horse battery");
      if (result.status !== "mfa-required") throw new Error("expected mfa-required");
      await a.loginWithCode(result.mfaToken, "123456");
      await vi.waitFor(() => expect(b.state.status).toBe("signed-in"));
      expect(await b.getAccessToken()).toBe(await a.getAccessToken());
      expect(seenB).toEqual(["refresh"]);
    },
  );

  it.runIf(typeof BroadcastChannel !== "undefined")(
    "a refused refresh in one tab signs the other out too",
    async () => {
      const a = tab();
      const b = tab();
      await a.login("alice", "correct horse battery");
      await vi.waitFor(() => expect(b.state.status).toBe("signed-in"));
      fake.expireAccessTokens();
      fake.refreshFailure = "Refresh token has been revoked";
      expect((await a.fetch(ME)).status).toBe(401);
      expect(a.state.status).toBe("signed-out");
      await vi.waitFor(() => expect(b.state.status).toBe("signed-out"));
    },
  );

  it.runIf(typeof BroadcastChannel !== "undefined")(
    "an older token from another tab does not replace a newer one",
    async () => {
      const a = tab();
      const b = tab();
      await a.login("alice", "correct horse battery");
      await vi.waitFor(() => expect(b.state.status).toBe("signed-in"));
      const expiresAt = (a.state as { accessTokenExpiresAt: number }).accessTokenExpiresAt;
      // A third tab posts a stale token by hand.
      const other = new BroadcastChannel(channelName);
      other.postMessage({ type: "token", token: "x.e30.y", expiresAt: expiresAt - 60_000 });
      other.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(await b.getAccessToken()).toBe(await a.getAccessToken());
    },
  );
});
