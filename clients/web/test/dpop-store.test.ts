// The DPoP key's store (IndexedDB, here a fake of it) and lock: what the client does when the
// store fails, when WebCrypto is missing, and when another tab replaced the key.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { BatonClient } from "../src/client";
import { FakeBaton, decodePayload, thumbprint } from "./fake-baton";
import { BASE, dpopClients } from "./dpop-clients";
import { FakeIndexedDB } from "./fake-idb";

const ME = "http://api.test/api/me";
const KEY_ID = `baton|${BASE}`;

let fake: FakeBaton;
let idb: FakeIndexedDB;

const { make: makeClient, closeAll } = dpopClients(() => fake);

/** `p`, or a rejection once it has hung for half a second. */
function within<T>(p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still pending after 500 ms")), 500)),
  ]);
}

/** The thumbprint of the key that signed the proof of request `n` to `path`. */
async function proofKey(path: string, n: number): Promise<string> {
  const proof = fake.requests(path)[n]!.headers.get("DPoP")!;
  const header = JSON.parse(atob(proof.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/")));
  return thumbprint(header.jwk);
}

/** The thumbprint of the key pair stored under the client's key id, if any. */
async function storedKey(): Promise<string | undefined> {
  const pair = idb.value("baton-dpop", "keys", KEY_ID) as CryptoKeyPair | undefined;
  if (!pair) return undefined;
  return thumbprint((await crypto.subtle.exportKey("jwk", pair.publicKey)) as any);
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.dpop = true;
  fake.addUser("alice", "correct horse battery");
  idb = new FakeIndexedDB();
  vi.stubGlobal("indexedDB", idb);
});

afterEach(() => {
  closeAll();
  vi.unstubAllGlobals();
});

describe("the DPoP key store", () => {
  it("keeps the key in IndexedDB, and a second tab signs with it", async () => {
    const a = makeClient();
    await a.login("alice", "correct horse battery");
    const key = await proofKey("/auth/login", 0);
    expect(await storedKey()).toBe(key);
    const b = makeClient();
    expect(await b.restore()).toBe(true);
    expect(await proofKey("/auth/refresh", 0)).toBe(key);
    expect(idb.openConnections()).toBe(0);
  });

  it("a store blocked by another tab: the key stays in memory, with a warning, and the late connection is closed", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    idb.blocked = true;
    const client = makeClient();
    await within(client.login("alice", "correct horse battery"));
    expect(client.state.status).toBe("signed-in");
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("DPoP key store"), expect.anything());
    idb.unblock();
    await vi.waitFor(() => expect(idb.connections.length).toBeGreaterThan(0));
    expect(idb.openConnections()).toBe(0);
    // In memory: the same key signs on, the store is not asked again.
    const opened = idb.connections.length;
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(200);
    expect(await proofKey("/auth/refresh", 0)).toBe(await proofKey("/auth/login", 0));
    expect(idb.connections.length).toBe(opened);
  });

  it("a store that throws in its callbacks (no object store in the database) rejects instead of hanging", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    idb.databases.set("baton-dpop", { version: 1, stores: new Map() });
    const client = makeClient();
    await within(client.login("alice", "correct horse battery"));
    expect(client.state.status).toBe("signed-in");
    expect(idb.thrown).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(idb.openConnections()).toBe(0);
  });

  it("a write is done when its transaction completes: one that aborts at commit leaves the key in memory", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    idb.abortWrites = new DOMException("The disk is full", "QuotaExceededError");
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    expect(client.state.status).toBe("signed-in");
    expect(await storedKey()).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(idb.openConnections()).toBe(0);
  });

  it("closes its connection when another tab opens a newer version", async () => {
    let leftOpen: number | undefined;
    idb.afterOpen = () => {
      leftOpen ??= idb.versionChange();
    };
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    expect(leftOpen).toBe(0);
  });

  it("without WebCrypto a DPoP client fails with dpop_unavailable, before any request", async () => {
    vi.stubGlobal("crypto", { getRandomValues: <T extends ArrayBufferView>(a: T) => a });
    const client = makeClient();
    await expect(client.login("alice", "correct horse battery")).rejects.toMatchObject({
      name: "BatonError",
      code: "dpop_unavailable",
    });
    expect(await client.restore()).toBe(false);
    expect(await client.getAccessToken()).toBeNull();
    expect(fake.log).toHaveLength(0);
  });

  it("makes the key under the Web Lock even with crossTab false", async () => {
    const taken: string[] = [];
    vi.stubGlobal("navigator", {
      locks: {
        request: async (name: string, callback: () => Promise<unknown>) => {
          taken.push(name);
          return callback();
        },
      },
    });
    const client = makeClient({ channelName: "app" });
    await client.login("alice", "correct horse battery");
    // The key's lock only: with crossTab false refreshes are this tab's own affair.
    expect(taken).toEqual(["app:dpop-key"]);
  });
});

describe("a key replaced under this tab", () => {
  /** Tabs A and B (not told of each other) signed in with one stored key; A then logs out
   *  (deleting it) and signs in again (storing another). */
  async function replacedUnderB(): Promise<{ a: BatonClient; b: BatonClient }> {
    const a = makeClient();
    const b = makeClient();
    await a.login("alice", "correct horse battery");
    expect(await b.restore()).toBe(true);
    await a.logout();
    await a.login("alice", "correct horse battery");
    return { a, b };
  }

  it("a refresh refused for B's key reads the key again and goes once more with the new one", async () => {
    const { b } = await replacedUnderB();
    const newKey = await storedKey();
    const before = fake.count("/auth/refresh");
    fake.expireAccessTokens();
    const res = await b.fetch(ME);
    expect(res.status).toBe(200);
    expect(fake.count("/auth/refresh")).toBe(before + 2);
    expect(await proofKey("/auth/refresh", before + 1)).toBe(newKey);
    expect(b.state.status).toBe("signed-in");
    const token = (await b.getAccessToken())!;
    expect((decodePayload(token).cnf as { jkt: string }).jkt).toBe(newKey);
  });

  it("still refused with the key read again: the session is lost to this tab, and no logout is sent", async () => {
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    // Bound to a key that is in no store (another browser's, say).
    fake.bindSessions("someone-elses-key");
    fake.expireAccessTokens();
    const res = await client.fetch(ME);
    expect(res.status).toBe(401);
    expect(fake.count("/auth/refresh")).toBe(2);
    expect(fake.count("/auth/logout")).toBe(0);
    expect(client.state.status).toBe("signed-out");
    expect(fake.sessionIds()).toHaveLength(1);
  });
});
