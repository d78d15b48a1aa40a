// Passkeys on baton's sign-in pages in Chromium, with its virtual authenticator (over CDP):
// the pages' script offers them where the browser has WebAuthn, alone on the sign-in page and
// as the second step after the password; the code each page leads to exchanges for an ID token
// whose `amr` says how the user signed in. Browsers refuse WebAuthn on an IP-address origin,
// so the pages are opened at http://localhost:PORT, the relying party of an issuer on
// 127.0.0.1.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import {
  launchChromium,
  loginThroughPage,
  openDemo,
  register,
  startBaton,
  virtualAuthenticator,
} from "./harness.mjs";

const PASSWORD = "correct horse battery";

describe("passkeys on the sign-in pages in Chromium", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let secret;
  let app;
  let CALLBACK;

  before(async () => {
    // Where the application would be: a page that says it is back.
    app = createServer((_, res) => res.end("back at the application"));
    await new Promise((r) => app.listen(0, "127.0.0.1", r));
    CALLBACK = `http://127.0.0.1:${app.address().port}/callback`;
    baton = await startBaton();
    const out = baton.cli([
      "client", "add", "page-app", "--confidential", "--first-party",
      "--grant", "authorization_code", "--redirect-uri", CALLBACK, "--scope", "openid profile",
    ]);
    secret = /client_secret: (\S+)/.exec(out)[1];
    await register(baton.base, "alice", PASSWORD);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
    app?.close();
  });

  test("a passkey signs in alone on the sign-in page, and as the second step", async () => {
    const site = baton.base.replace("127.0.0.1", "localhost");
    const context = await browser.newContext();
    const page = await context.newPage();
    await virtualAuthenticator(page);
    const violations = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });

    // A passkey, added on the demo page.
    await openDemo(page, site);
    await loginThroughPage(page, "alice", PASSWORD);
    await page.waitForSelector("#passkey-form:not([hidden])");
    await page.fill("#passkey-name", "Laptop");
    await page.fill("#passkey-password", PASSWORD);
    await page.click("#passkey-add");
    await page.waitForSelector("#passkeys tr[data-passkey-id]");

    /** Opens the authorization request (PKCE, S256); its verifier. */
    const authorize = async (extra = {}) => {
      const verifier = randomBytes(32).toString("base64url");
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      const params = new URLSearchParams({
        response_type: "code",
        client_id: "page-app",
        redirect_uri: CALLBACK,
        scope: "openid profile",
        state: "st",
        nonce: "n",
        code_challenge: challenge,
        code_challenge_method: "S256",
        ...extra,
      });
      await page.goto(`${site}/oauth/authorize?${params}`);
      return verifier;
    };
    /** The code the page led back with, exchanged: the ID token's claims. */
    const signedIn = async (verifier) => {
      await page.waitForURL(`${CALLBACK}**`);
      const back = new URL(page.url());
      assert.equal(back.searchParams.get("state"), "st");
      const res = await fetch(`${baton.base}/oauth/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`page-app:${secret}`).toString("base64")}`,
        },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: back.searchParams.get("code"),
          redirect_uri: CALLBACK,
          code_verifier: verifier,
        }),
      });
      assert.equal(res.status, 200);
      const { id_token } = await res.json();
      return JSON.parse(Buffer.from(id_token.split(".")[1], "base64url").toString("utf8"));
    };

    // Alone: no username, no password.
    let verifier = await authorize();
    await page.waitForSelector("#passkey-button", { state: "visible" });
    await page.click("#passkey-button");
    let claims = await signedIn(verifier);
    assert.equal(claims.preferred_username, "alice");
    assert.ok(claims.amr.includes("user") && !claims.amr.includes("pwd"), `amr: ${claims.amr}`);

    // Signing in again (prompt=login): the password, then the passkey as the second step.
    verifier = await authorize({ prompt: "login" });
    await page.fill("#username", "alice");
    await page.fill("#password", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForSelector("form[action='/oauth/authorize/mfa'] #passkey-button", {
      state: "visible",
    });
    assert.match(await page.textContent("main"), /Use your passkey, or enter one of your recovery codes/);
    await page.click("#passkey-button");
    claims = await signedIn(verifier);
    assert.ok(claims.amr.includes("pwd") && claims.amr.includes("mfa"), `amr: ${claims.amr}`);
    assert.deepEqual(violations, []);
    await context.close();
  });
});
