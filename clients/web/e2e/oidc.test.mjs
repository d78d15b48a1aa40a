// OpenID Connect sign-in through baton's own pages in Chromium, with a relying party built on
// Python's Authlib (interop/python/oidc_rp.py): the code flow with PKCE and a nonce, RFC 9207's
// iss, the ID token checked against the JWKS, userinfo, refresh with rotation; then single
// sign-on for a second visit, and consent for a third-party application.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { launchChromium, register, repoRoot, startBaton, startRelyingParty } from "./harness.mjs";

const PASSWORD = "correct horse battery";

/** Adds a confidential client with `flags`; its secret. */
function addClient(baton, name, flags) {
  const out = baton.cli(["client", "add", name, "--confidential", "--redirect-uri", "http://127.0.0.1/callback", ...flags]);
  return /client_secret: (\S+)/.exec(out)[1];
}

async function resultOf(page) {
  await page.waitForSelector("#result, #error", { timeout: 20_000 });
  const error = await page.$("#error");
  if (error) throw new Error(`the relying party failed: ${await error.textContent()}`);
  return JSON.parse(await page.textContent("#result"));
}

describe("OpenID Connect in Chromium with an Authlib relying party", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let firstParty;
  let thirdParty;

  before(async () => {
    baton = await startBaton();
    const scopes = ["--scope", "openid profile email offline_access"];
    const secret = addClient(baton, "authlib-app", ["--first-party", "--name", "Authlib App", ...scopes]);
    const partnerSecret = addClient(baton, "partner-app", ["--name", "Partner App", ...scopes]);
    firstParty = await startRelyingParty(baton.base, "authlib-app", secret);
    thirdParty = firstParty && (await startRelyingParty(baton.base, "partner-app", partnerSecret));
    await register(baton.base, "alice", PASSWORD);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await firstParty?.stop();
    await thirdParty?.stop();
    await baton?.stop();
  });

  test("signing in on baton's page gives the app verified tokens, then single sign-on", async (t) => {
    if (!firstParty) return t.skip("no interop Python");
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${firstParty.base}/login`);
    await page.waitForSelector("form[action='/oauth/authorize/login']");
    assert.ok(page.url().startsWith(`${baton.base}/oauth/authorize?`), page.url());
    assert.equal(await page.textContent("strong"), "Authlib App");
    // The page's own stylesheet applies under its CSP; its one script is baton's own, and
    // offers no passkey on an IP-address origin, where browsers refuse them.
    assert.deepEqual(
      await page.evaluate(() => [...document.scripts].map((s) => new URL(s.src).pathname)),
      ["/assets/pages.js"],
    );
    assert.equal(await page.isVisible("#passkey-button"), false);
    const padding = await page.evaluate(() => getComputedStyle(document.querySelector("main")).paddingTop);
    assert.equal(padding, "32px");
    await page.fill("#username", "alice");
    await page.fill("#password", PASSWORD);
    await page.click("button[type=submit]");
    const result = await resultOf(page);
    assert.ok(page.url().startsWith(`${firstParty.base}/callback?`), page.url());
    assert.equal(result.id_token_claims.preferred_username, "alice");
    assert.equal(result.id_token_claims.aud, "authlib-app");
    assert.deepEqual(result.id_token_claims.amr, ["pwd"]);
    assert.equal(result.userinfo.sub, result.id_token_claims.sub);
    assert.equal(result.userinfo.preferred_username, "alice");
    assert.equal(result.rotated, true);
    assert.equal(result.access_token_after_refresh, true);
    assert.deepEqual(violations, []);
    const dir = join(repoRoot, "test-artifacts");
    mkdirSync(dir, { recursive: true });

    // A second visit: the browser session answers at once, no page.
    const seen = [];
    page.on("framenavigated", (f) => seen.push(f.url()));
    await page.goto(`${firstParty.base}/login`);
    const again = await resultOf(page);
    assert.equal(again.id_token_claims.sid, result.id_token_claims.sid);
    assert.ok(!seen.some((u) => u.startsWith(`${baton.base}/oauth/authorize`)), seen.join("\n"));

    // prompt=login asks for the password again.
    await page.goto(`${firstParty.base}/login?prompt=login`);
    await page.waitForSelector("form[action='/oauth/authorize/login']");
    await page.screenshot({ path: join(dir, "oidc-sign-in.png"), fullPage: true });
    await context.close();
  });

  test("a third-party application asks for consent, and a denial goes back as access_denied", async (t) => {
    if (!thirdParty) return t.skip("no interop Python");
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${thirdParty.base}/login`);
    await page.fill("#username", "alice");
    await page.fill("#password", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForSelector("form[action='/oauth/authorize/consent']");
    const text = await page.textContent("main");
    assert.match(text, /Partner App/);
    assert.match(text, /stay signed in when you are not using it/);
    await page.click("button[value=deny]");
    await page.waitForSelector("#error");
    assert.match(await page.textContent("#error"), /access_denied/);
    await page.goto(`${thirdParty.base}/login`);
    await page.waitForSelector("form[action='/oauth/authorize/consent']");
    await page.click("button[value=allow]");
    const result = await resultOf(page);
    assert.equal(result.id_token_claims.aud, "partner-app");
    assert.equal(result.rotated, true);
    await context.close();
  });
});
