// DPoP (RFC 9449) in a real Chromium against a real baton: the client library's key is a
// non-extractable WebCrypto key in IndexedDB, shared by the tabs, kept across a reload and
// deleted at logout; the tokens are bound to it, so the refresh cookie alone is useless. The
// access token lives 3 seconds and the grace window is off, so refreshes happen, through the
// cross-tab single flight, each with its proof.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { launchChromium, loginThroughPage, openDemo, register, startBaton } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const TTL_MS = 3000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** In the page: the stored DPoP keys, whether their private halves can be exported, and the
 *  RFC 7638 thumbprint of each public half. */
const inspectKeys = () =>
  new Promise((resolve, reject) => {
    const open = indexedDB.open("baton-dpop");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("keys")) {
        db.close();
        resolve([]);
        return;
      }
      const all = db.transaction("keys").objectStore("keys").getAll();
      all.onerror = () => reject(all.error);
      all.onsuccess = async () => {
        db.close();
        const out = [];
        for (const pair of all.result) {
          const refused = [];
          for (const format of ["pkcs8", "jwk"]) {
            try {
              await crypto.subtle.exportKey(format, pair.privateKey);
            } catch (e) {
              refused.push(`${format}: ${e.name}`);
            }
          }
          const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
          const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
          const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)));
          const jkt = btoa(String.fromCharCode(...hash)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
          out.push({ extractable: pair.privateKey.extractable, refused, jkt });
        }
        resolve(out);
      };
    };
  });

/** In the page: the `cnf.jkt` of the client's access token. */
const tokenJkt = async () => {
  const token = await globalThis.batonDemo.client.getAccessToken();
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4))).cnf?.jkt ?? null;
};

describe("DPoP in Chromium", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let n = 0;
  const newUser = async () => {
    const name = `dpop${++n}`;
    await register(baton.base, name, PASSWORD);
    return name;
  };

  before(async () => {
    baton = await startBaton({ BATON_ACCESS_TTL: "3", BATON_REFRESH_GRACE: "0" });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
  });

  test("one non-extractable key, shared by two tabs, kept by a reload, deleted at logout", async () => {
    const context = await browser.newContext();
    const a = await context.newPage();
    const name = await newUser();
    await openDemo(a, baton.base, "?dpop=on&proactive=off");
    await loginThroughPage(a, name, PASSWORD);
    const keys = await a.evaluate(inspectKeys);
    assert.equal(keys.length, 1, "one key in IndexedDB");
    assert.equal(keys[0].extractable, false);
    assert.deepEqual(
      keys[0].refused,
      ["pkcs8: InvalidAccessError", "jwk: InvalidAccessError"],
      "the private key cannot be exported",
    );
    assert.equal(await a.evaluate(tokenJkt), keys[0].jkt, "the access token is bound to that key");
    await a.click("#call-me");
    await a.waitForFunction(() => document.querySelector("#me-output")?.textContent?.startsWith("200"));

    // A second tab restores the session from the cookie: its refresh needs the same key.
    const b = await context.newPage();
    await openDemo(b, baton.base, "?dpop=on&proactive=off");
    assert.equal(await b.isVisible("#signed-in"), true, "the second tab restored the session");
    assert.equal(await b.evaluate(tokenJkt), keys[0].jkt, "with the same key");

    // Both tabs at the moment of expiry: one refresh at a time, each with its proof.
    await sleep(TTL_MS + 300);
    const burst = (page) =>
      page.evaluate(async () => {
        const { client } = globalThis.batonDemo;
        const all = await Promise.all(Array.from({ length: 5 }, () => client.fetch("/api/me")));
        return all.map((r) => r.status);
      });
    const [fromA, fromB] = await Promise.all([burst(a), burst(b)]);
    assert.deepEqual([...fromA, ...fromB], Array(10).fill(200));

    // A reload keeps the session and the key.
    const sid = await a.textContent("#session-id");
    await a.reload();
    await a.waitForSelector("body[data-ready=true]");
    assert.equal(await a.isVisible("#signed-in"), true);
    assert.equal(await a.textContent("#session-id"), sid, "the same session");
    assert.equal(await a.evaluate(tokenJkt), keys[0].jkt);

    // Logging out deletes the key and signs the other tab out.
    await a.click("#logout");
    await a.waitForSelector("#signed-out:not([hidden])");
    await b.waitForSelector("#signed-out:not([hidden])", { timeout: 5000 });
    await a.waitForFunction(
      () =>
        new Promise((resolve) => {
          const open = indexedDB.open("baton-dpop");
          open.onsuccess = () => {
            const db = open.result;
            const all = db.transaction("keys").objectStore("keys").count();
            all.onsuccess = () => {
              db.close();
              resolve(all.result === 0);
            };
          };
        }),
      null,
      { timeout: 5000 },
    );
    assert.deepEqual(await a.evaluate(inspectKeys), [], "no key left");
    await context.close();
  });

  test("the refresh cookie alone is useless: without the key the refresh is refused and spends nothing", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base, "?dpop=on");
    await loginThroughPage(page, name, PASSWORD);
    const cookie = (await context.cookies()).find((c) => c.name === "baton_refresh");
    assert.ok(cookie, "the browser holds the cookie");
    // The thief's request, with the cookie but not the key.
    const stolen = await fetch(`${baton.base}/auth/refresh`, {
      method: "POST",
      headers: { cookie: `baton_refresh=${cookie.value}`, "x-requested-with": "baton" },
    });
    assert.equal(stolen.status, 400);
    assert.equal((await stolen.json()).error, "invalid_dpop_proof");
    // The page, holding the key, still refreshes with that same cookie.
    const status = await page.evaluate(async () => {
      const { client } = globalThis.batonDemo;
      await client.restore();
      return (await client.fetch("/api/me")).status;
    });
    assert.equal(status, 200);
    const refreshed = await page.evaluate(async () => {
      // Force a refresh: the old token is swapped for a new one.
      const { client } = globalThis.batonDemo;
      const before = await client.getAccessToken();
      await new Promise((r) => setTimeout(r, 3300));
      const after = await client.getAccessToken();
      return before !== after;
    });
    assert.equal(refreshed, true, "the session still refreshes: the cookie was not spent");
    await context.close();
  });
});

/** A page of another origin that loads the client from baton and exposes it as `client`, its
 *  device clock `skew` milliseconds off (`?skew=…`). */
const crossOriginPage = (batonBase) => `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
  const skew = Number(new URLSearchParams(location.search).get("skew") ?? "0");
  const { createClient } = await import(${JSON.stringify(batonBase)} + "/assets/client.js");
  globalThis.client = createClient({
    baseUrl: ${JSON.stringify(batonBase)},
    dpop: true,
    proactiveRefresh: false,
    now: () => Date.now() + skew,
  });
  document.body.dataset.ready = "true";
</script><body></body>`;

describe("DPoP required, with nonces, from another origin", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let server;
  let app;
  let n = 0;

  before(async () => {
    let batonBase = "";
    server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(crossOriginPage(batonBase));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    app = `http://127.0.0.1:${server.address().port}`;
    baton = await startBaton({
      BATON_ALLOWED_ORIGINS: app,
      BATON_DPOP: "required",
      BATON_DPOP_NONCE: "true",
      BATON_ACCESS_TTL: "3",
      BATON_REFRESH_GRACE: "0",
    });
    batonBase = baton.base;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
    server?.close();
  });

  for (const [label, skew] of [
    ["a device clock that is right", 0],
    ["a device clock ten minutes fast", 600_000],
    ["a device clock ten minutes slow", -600_000],
  ]) {
    test(`signs in, calls and refreshes through CORS with nonces, with ${label}`, async () => {
      const name = `cross${++n}`;
      await register(baton.base, name, PASSWORD);
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${app}/?skew=${skew}`);
      await page.waitForSelector("body[data-ready=true]", { state: "attached" });
      const outcome = await page.evaluate(
        async ({ name, password, base, ttl }) => {
          const { client } = globalThis;
          const login = await client.login(name, password);
          const token = await client.getAccessToken();
          const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
          const me = await client.fetch(`${base}/api/me`);
          // Past the token's life: the call refreshes first (with a proof and the nonce).
          await new Promise((r) => setTimeout(r, ttl + 300));
          const later = await client.fetch(`${base}/api/me`);
          const renewed = await client.getAccessToken();
          // Without a proof, baton's own client is refused: DPoP is required.
          const bare = await fetch(`${base}/auth/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ username: name, password }),
          });
          return {
            login: login.status,
            bound: typeof claims.cnf?.jkt === "string",
            me: me.status,
            later: later.status,
            rotated: renewed !== token,
            bare: [bare.status, (await bare.json()).error],
          };
        },
        { name, password: PASSWORD, base: baton.base, ttl: TTL_MS },
      );
      assert.deepEqual(outcome, {
        login: "signed-in",
        bound: true,
        me: 200,
        later: 200,
        rotated: true,
        bare: [400, "invalid_dpop_proof"],
      });
      await context.close();
    });
  }
});
