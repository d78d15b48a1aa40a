// Second factors on the demo page in Chromium against a real baton: an authenticator app
// enrolled from the page, with its codes computed here by an RFC 6238 implementation of the
// test's own, and recovery codes; passkeys with Chromium's virtual authenticator (over CDP),
// alone and as the second factor, also from another browser holding a copy of the credential.
//
// Browsers refuse WebAuthn on an IP-address origin: the passkey tests open the page at
// http://localhost:PORT, the relying party of an issuer on 127.0.0.1.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
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
const STEP_MS = 30_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The RFC 6238 code (HMAC-SHA1, 30-second steps, 6 digits) of a base32 `secret` at `step`. */
function totp(secret, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret.replace(/=+$/, "").toUpperCase()]
    .map((c) => alphabet.indexOf(c).toString(2).padStart(5, "0"))
    .join("");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const stepNow = () => Math.floor(Date.now() / STEP_MS);

/** The claims of the access token the page holds. */
async function claimsOn(page) {
  const token = await page.evaluate(() => globalThis.batonDemo.client.getAccessToken());
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

/** Waits until the status message is `text` (or starts with it, with `prefix`). */
async function message(page, text, { prefix = false } = {}) {
  await page.waitForFunction(
    ([want, starts]) => {
      const got = document.querySelector("#message")?.textContent ?? "";
      return starts ? got.startsWith(want) : got === want;
    },
    [text, prefix],
  );
}

/** Types the password into the login form; resolves once the second step is asked for. */
async function firstStep(page, username) {
  await page.fill("#login-username", username);
  await page.fill("#login-password", PASSWORD);
  await page.click("#login-button");
  await page.waitForSelector("#mfa-form:not([hidden])");
  assert.equal(await page.isVisible("#signed-in"), false, "the password alone signs nothing in");
}

async function logout(page) {
  await page.click("#logout");
  await page.waitForSelector("#signed-out:not([hidden])");
}

describe("second factors on the demo page in Chromium", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let n = 0;
  const newUser = async () => {
    const name = `mfauser${++n}`;
    await register(baton.base, name, PASSWORD);
    return name;
  };

  before(async () => {
    baton = await startBaton();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
  });

  test("the test's TOTP gives RFC 6238's own test vector", () => {
    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T = 59 s: 94287082 (8 digits).
    assert.equal(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 1), "287082");
  });

  test("an authenticator app enrolled on the page, then sign-ins with its code and with a recovery code, once", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const policyViolations = [];
    page.on("console", (m) => m.type() === "error" && /Content Security Policy/i.test(m.text()) && policyViolations.push(m.text()));
    const name = await newUser();
    await openDemo(page, baton.base);
    await loginThroughPage(page, name, PASSWORD);
    await page.waitForFunction(() => document.querySelector("#mfa-status")?.dataset.totp === "false");

    // Enrol: the password, then the QR code (an image under the page's policy) and the secret.
    await page.fill("#totp-setup-password", PASSWORD);
    await page.click("#totp-setup-button");
    await page.waitForSelector("#totp-confirm-form:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#totp-qr img")?.naturalWidth >= 200);
    const secret = (await page.textContent("#totp-secret")).trim();
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    // A wrong code is refused with a message, and the form stays.
    await page.fill("#totp-confirm-code", totp(secret, stepNow() + 5));
    await page.click("#totp-confirm-button");
    await message(page, "That code is not right: enter the one the app shows now.");
    const confirmedAt = stepNow();
    await page.fill("#totp-confirm-code", totp(secret, confirmedAt));
    await page.click("#totp-confirm-button");
    await page.waitForSelector("#recovery-codes-box:not([hidden])");
    const codes = await page.$$eval("#recovery-codes li", (items) => items.map((li) => li.textContent));
    assert.equal(codes.length, 10);
    for (const code of codes) assert.match(code, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
    await page.waitForFunction(() => document.querySelector("#mfa-status")?.dataset.totp === "true");
    assert.equal(await page.textContent("#totp-secret"), "", "the secret leaves the page");
    assert.equal(await page.isVisible("#totp-disable-form"), true);
    await page.waitForSelector('#events tr[data-type="mfa_enabled"]');

    // This sign-in had no second factor: a password change now asks for one (step-up).
    await page.fill("#current-password", PASSWORD);
    await page.fill("#new-password", "violet tortoise sails at dawn");
    await page.click("#change-password");
    await message(page, "Sign in again to change this", { prefix: true });
    assert.equal(await page.isVisible("#signed-in"), true, "the refusal signs nothing out");

    // A recovery code signs in.
    await logout(page);
    await firstStep(page, name);
    await page.click("#mfa-toggle-recovery");
    await page.fill("#mfa-recovery-code", codes[0]);
    await page.click("#mfa-button");
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal(await page.textContent("#whoami"), name);
    await page.waitForSelector('#events tr[data-type="recovery_code_used"]');
    await page.waitForFunction(() => document.querySelector("#mfa-status")?.textContent?.includes("9 recovery codes left"));

    // The same recovery code again is refused; the second step stays open.
    await logout(page);
    await firstStep(page, name);
    await page.click("#mfa-toggle-recovery");
    await page.fill("#mfa-recovery-code", codes[0]);
    await page.click("#mfa-button");
    await message(page, "That recovery code is not right, or was used already.");
    assert.equal(await page.isVisible("#mfa-form"), true);

    // A code from the app: each step is accepted once, so the one after the enrolment's.
    await page.click("#mfa-toggle-recovery");
    if (stepNow() <= confirmedAt) await sleep((confirmedAt + 1) * STEP_MS - Date.now() + 100);
    await page.fill("#mfa-code", totp(secret, stepNow()));
    await page.click("#mfa-button");
    await page.waitForSelector("#signed-in:not([hidden])");
    const claims = await claimsOn(page);
    assert.deepEqual([...claims.amr].sort(), ["mfa", "otp", "pwd"]);
    assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 60, "auth_time is this sign-in's");
    assert.deepEqual(policyViolations, []);
    await context.close();
  });

  test("a passkey added on the page signs in alone, from a second browser holding a copy, and as the second factor", async () => {
    const site = baton.base.replace("127.0.0.1", "localhost");
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await virtualAuthenticator(page);
    const name = await newUser();
    await openDemo(page, site);
    assert.equal(await page.isVisible("#passkey-login"), true, "offered where WebAuthn is");
    await loginThroughPage(page, name, PASSWORD);

    // Add a passkey: the account's first second factor, so recovery codes come with it.
    await page.waitForSelector("#passkey-form:not([hidden])");
    await page.fill("#passkey-name", "Laptop");
    await page.fill("#passkey-password", PASSWORD);
    await page.click("#passkey-add");
    await message(page, 'Passkey "Laptop" added.');
    await page.waitForSelector("#passkeys tr[data-passkey-id]");
    assert.equal(await page.textContent("#passkeys tr[data-passkey-id] td"), "Laptop");
    assert.equal(await page.$$eval("#recovery-codes li", (items) => items.length), 10);
    await page.waitForFunction(() => document.querySelector("#mfa-status")?.textContent === "On, with a passkey; 10 recovery codes left.");
    // A copy of the credential as it is now (a resident credential exports whole, its private
    // key included); its signature counter falls behind at the next sign-in.
    const exported = async () =>
      (await first.cdp.send("WebAuthn.getCredentials", { authenticatorId: first.authenticatorId })).credentials;
    const [stale] = await exported();
    assert.equal(stale.isResidentCredential, true);
    assert.equal(stale.rpId, "localhost");

    // Sign in with the passkey alone: no username, a session with two factors.
    await logout(page);
    assert.equal(await page.isVisible("#recovery-codes-box"), false, "the codes leave the page");
    await page.click("#passkey-login");
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal(await page.textContent("#whoami"), name);
    const claims = await claimsOn(page);
    assert.ok(claims.amr.includes("mfa") && claims.amr.includes("user"), `amr: ${claims.amr}`);
    assert.ok(!claims.amr.includes("pwd"), `amr: ${claims.amr}`);
    await page.click("#call-me");
    await page.waitForFunction(() => document.querySelector("#me-output")?.textContent?.startsWith("200"));

    // A fresh browser whose authenticator holds a copy of the credential: the stale copy is
    // refused (its counter went back: a cloned key), the current one signs in.
    const other = await browser.newContext();
    const p = await other.newPage();
    const second = await virtualAuthenticator(p);
    await second.cdp.send("WebAuthn.addCredential", { authenticatorId: second.authenticatorId, credential: stale });
    await openDemo(p, site);
    await p.click("#passkey-login");
    await message(p, "This passkey is not accepted here.");
    assert.equal(await p.isVisible("#signed-out"), true);
    const [current] = await exported();
    assert.ok(current.signCount > stale.signCount);
    await second.cdp.send("WebAuthn.removeCredential", { authenticatorId: second.authenticatorId, credentialId: stale.credentialId });
    await second.cdp.send("WebAuthn.addCredential", { authenticatorId: second.authenticatorId, credential: current });
    await p.click("#passkey-login");
    await p.waitForSelector("#signed-in:not([hidden])");
    assert.equal(await p.textContent("#whoami"), name);

    // The password, then the passkey as the second factor.
    await logout(p);
    await firstStep(p, name);
    assert.equal(await p.isVisible("#mfa-passkey"), true);
    assert.equal(await p.isVisible("#mfa-code"), false, "no app to ask a code of");
    await p.click("#mfa-passkey");
    await p.waitForSelector("#signed-in:not([hidden])");
    const both = await claimsOn(p);
    assert.ok(both.amr.includes("pwd") && both.amr.includes("mfa"), `amr: ${both.amr}`);

    // Deleting the passkey (this sign-in had both factors) takes the second step away again.
    await p.waitForSelector("#passkeys tr[data-passkey-id] button");
    await p.click("#passkeys tr[data-passkey-id] button");
    await message(p, "Passkey deleted.");
    await p.waitForFunction(() => document.querySelectorAll("#passkeys tr").length === 0);
    await p.waitForFunction(() => document.querySelector("#mfa-status")?.textContent?.startsWith("Off"));
    await logout(p);
    await loginThroughPage(p, name, PASSWORD);
    await other.close();
    await context.close();
  });
});
