// The demo page and the client library in a real Chromium against a real baton with a 3-second
// access-token lifetime. The grace window is off (BATON_REFRESH_GRACE=0), so two tabs that both
// refreshed with the same cookie would trip reuse detection: only the client's cross-tab single
// flight keeps those sessions alive.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { launchChromium, loginThroughPage, openDemo, register, repoRoot, startBaton } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const TTL_MS = 3000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("demo page in Chromium", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let n = 0;
  const newUser = async () => {
    const name = `user${++n}`;
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

  test("logging in through the page shows the user and keeps a screenshot", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base);
    assert.equal(await page.isVisible("#signed-out"), true);
    await loginThroughPage(page, name, PASSWORD);
    assert.equal(await page.textContent("#whoami"), name);
    await page.click("#call-me");
    await page.waitForFunction(() => document.querySelector("#me-output")?.textContent?.startsWith("200"));
    await page.waitForSelector("#sessions tr.current");
    // The audit log's "Recent activity": the sign-in and the account's creation.
    await page.waitForSelector('#events tr[data-type="login_succeeded"]');
    const dir = join(repoRoot, "test-artifacts");
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, "demo-logged-in.png"), fullPage: true });
    await context.close();
  });

  test("an expired access token is renewed by the next call", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base, "?proactive=off");
    await loginThroughPage(page, name, PASSWORD);
    const old = await page.evaluate(() => globalThis.batonDemo.client.getAccessToken());
    await sleep(TTL_MS + 500);
    const expired = await page.evaluate(async (token) => {
      const res = await fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } });
      return [res.status, (await res.json()).error_description];
    }, old);
    assert.deepEqual(expired, [401, "Token has expired"], "the server refuses the old token");
    const order = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/auth/refresh")) order.push("refresh");
      if (r.url().endsWith("/api/me")) order.push("api");
    });
    await page.click("#call-me");
    await page.waitForFunction(() => document.querySelector("#me-output")?.textContent?.startsWith("200"));
    assert.deepEqual(order, ["refresh", "api"], "renewed once, then called with the new token");
    await context.close();
  });

  test("the access token renews itself before it expires", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base);
    await loginThroughPage(page, name, PASSWORD);
    await page.waitForFunction(() => Number(document.querySelector("#renewals")?.textContent) >= 1, null, {
      timeout: TTL_MS * 2,
    });
    const statuses = [];
    page.on("response", (r) => r.url().endsWith("/api/me") && statuses.push(r.status()));
    await page.click("#call-me");
    await page.waitForFunction(() => document.querySelector("#me-output")?.textContent?.startsWith("200"));
    assert.deepEqual(statuses, [200], "no 401 on the way");
    await context.close();
  });

  test("a reload keeps the session without web storage", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base);
    await loginThroughPage(page, name, PASSWORD);
    const sid = await page.textContent("#session-id");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.isVisible("#signed-in"), true);
    assert.equal(await page.textContent("#session-id"), sid, "the same session");
    const storage = await page.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(storage, 0, "nothing in localStorage or sessionStorage");
    await context.close();
  });

  test("page scripts cannot see the refresh token", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const name = await newUser();
    await openDemo(page, baton.base);
    await loginThroughPage(page, name, PASSWORD);
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /baton_refresh/);
    const cookies = await context.cookies();
    const refresh = cookies.find((c) => c.name === "baton_refresh");
    assert.ok(refresh, "the browser holds the cookie");
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, "Strict");
    assert.equal(refresh.path, "/auth");
    const html = await page.content();
    assert.equal(html.includes(refresh.value), false, "the token is nowhere in the page");
    await context.close();
  });

  test("two tabs calling at the moment of expiry keep the session alive", async () => {
    const context = await browser.newContext();
    const a = await context.newPage();
    const name = await newUser();
    await openDemo(a, baton.base, "?proactive=off");
    await loginThroughPage(a, name, PASSWORD);
    const b = await context.newPage();
    await openDemo(b, baton.base, "?proactive=off");
    assert.equal(await b.isVisible("#signed-in"), true, "the second tab restored the session");
    const sid = await a.textContent("#session-id");

    const refreshes = [];
    context.on("request", (r) => r.url().endsWith("/auth/refresh") && refreshes.push(r));
    await sleep(TTL_MS + 300);
    const burst = (page) =>
      page.evaluate(async () => {
        const { client } = globalThis.batonDemo;
        const all = await Promise.all(Array.from({ length: 10 }, () => client.fetch("/api/me")));
        return all.map((r) => r.status);
      });
    const [fromA, fromB] = await Promise.all([burst(a), burst(b)]);
    assert.deepEqual([...fromA, ...fromB], Array(20).fill(200));
    assert.ok(refreshes.length >= 1 && refreshes.length <= 2, `refreshes: ${refreshes.length}`);

    // Ask the server: the session is still live, and refreshing still works.
    const sessions = await a.evaluate(() => globalThis.batonDemo.client.sessions());
    assert.ok(sessions.some((s) => s.id === sid && s.current), "session still listed as live");
    const again = await b.evaluate(async () => {
      const res = await fetch("/auth/refresh", {
        method: "POST",
        credentials: "include",
        headers: { "X-Requested-With": "baton" },
      });
      return res.status;
    });
    assert.equal(again, 200, "no reuse detected: the session still refreshes");
    await context.close();
  });

  test("logging out in one tab logs out the other, and the API then refuses", async () => {
    const context = await browser.newContext();
    const a = await context.newPage();
    const name = await newUser();
    await openDemo(a, baton.base);
    await loginThroughPage(a, name, PASSWORD);
    const b = await context.newPage();
    await openDemo(b, baton.base);
    assert.equal(await b.isVisible("#signed-in"), true);

    await a.click("#logout");
    await a.waitForSelector("#signed-out:not([hidden])");
    await b.waitForSelector("#signed-out:not([hidden])", { timeout: 5000 });

    const status = await b.evaluate(async () => (await globalThis.batonDemo.client.fetch("/api/me")).status);
    assert.equal(status, 401);
    await b.reload();
    await b.waitForSelector("body[data-ready=true]");
    assert.equal(await b.isVisible("#signed-out"), true, "a reload does not bring the session back");
    await context.close();
  });

  test("changing the password on the page ends the other browser's session, not this one", async () => {
    const name = await newUser();
    const phone = await browser.newContext();
    const laptop = await browser.newContext();
    const p = await phone.newPage();
    const l = await laptop.newPage();
    await openDemo(p, baton.base);
    await loginThroughPage(p, name, PASSWORD);
    await openDemo(l, baton.base);
    await loginThroughPage(l, name, PASSWORD);

    // A weak new password is refused with the reason.
    await l.fill("#current-password", PASSWORD);
    await l.fill("#new-password", "password123");
    await l.click("#change-password");
    await l.waitForFunction(() => document.querySelector("#message")?.textContent?.includes("too easy to guess"));
    // A wrong current password is refused.
    await l.fill("#current-password", "not the password");
    await l.fill("#new-password", "violet tortoise sails at dawn");
    await l.click("#change-password");
    await l.waitForFunction(() => document.querySelector("#message")?.textContent === "The current password is not right.");

    await l.fill("#current-password", PASSWORD);
    await l.fill("#new-password", "violet tortoise sails at dawn");
    await l.click("#change-password");
    await l.waitForFunction(() => document.querySelector("#message")?.textContent?.startsWith("Password changed."));
    await l.waitForFunction(() => document.querySelectorAll("#sessions tr").length === 1);
    await l.waitForSelector('#events tr[data-type="password_changed"]');

    await p.reload();
    await p.waitForSelector("body[data-ready=true]");
    assert.equal(await p.isVisible("#signed-out"), true, "the other browser is signed out");
    await loginThroughPage(p, name, "violet tortoise sails at dawn");
    await l.reload();
    await l.waitForSelector("body[data-ready=true]");
    assert.equal(await l.isVisible("#signed-in"), true, "this browser stays signed in");
    await phone.close();
    await laptop.close();
  });

  test("logging out everywhere ends the sessions of other browsers", async () => {
    const name = await newUser();
    const phone = await browser.newContext();
    const laptop = await browser.newContext();
    const p = await phone.newPage();
    const l = await laptop.newPage();
    await openDemo(p, baton.base);
    await loginThroughPage(p, name, PASSWORD);
    await openDemo(l, baton.base);
    await loginThroughPage(l, name, PASSWORD);
    await l.click("#load-sessions");
    await l.waitForFunction(() => document.querySelectorAll("#sessions tr").length === 2);
    await l.click("#logout-all");
    await l.waitForSelector("#signed-out:not([hidden])");
    await p.reload();
    await p.waitForSelector("body[data-ready=true]");
    assert.equal(await p.isVisible("#signed-out"), true);
    await phone.close();
    await laptop.close();
  });
});
