// The demo page's e-mail flows in Chromium against a real baton that mails through a real SMTP
// server (aiosmtpd): an address confirmed from the mailed link, and "Forgot password?" with the
// captured mail's link opened in the browser, a new password set, and a sign-in with it.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchChromium, loginThroughPage, openDemo, startBaton, startSmtpSink } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "violet tortoise sails at dawn";

/** The link of `fragment` (`reset`, `verify`) in a mail's text. */
function link(mail, fragment) {
  const m = new RegExp(`(https?://\\S+/#${fragment}=[A-Za-z0-9_-]+)`).exec(mail.text);
  assert.ok(m, `a #${fragment}= link in: ${mail.text}`);
  return m[1];
}

describe("e-mail flows on the demo page in Chromium", { timeout: 120_000 }, () => {
  let sink;
  let baton;
  let browser;

  before(async () => {
    sink = await startSmtpSink();
    if (!sink) return;
    baton = await startBaton({ BATON_SMTP_URL: sink.url, BATON_MAIL_FROM: "Demo <auth@example.com>" });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
    await sink?.stop();
  });

  test("register with an address, confirm it from the mail, forget the password, reset it from the mail, sign in", async (t) => {
    if (!sink) return t.skip("no BATON_INTEROP_PYTHON (aiosmtpd)");
    const context = await browser.newContext();
    const page = await context.newPage();
    await openDemo(page, baton.base);

    // Register through the page, with an address.
    await page.fill("#register-username", "mailuser");
    await page.fill("#register-password", PASSWORD);
    await page.fill("#register-email", "mailuser@example.com");
    await page.click("#register-button");
    await page.waitForSelector("#signed-in:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#email-status")?.dataset.verified === "false");
    const confirmation = await sink.waitFor(1);
    assert.equal(confirmation.to, "mailuser@example.com");
    assert.equal(confirmation.subject, "Confirm your e-mail address");

    // The confirmation link, opened in the same browser: confirmed, and shown as such.
    await page.goto(link(confirmation, "verify"));
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForFunction(() => document.querySelector("#message")?.textContent === "Your e-mail address is confirmed.");
    await page.waitForFunction(() => document.querySelector("#email-status")?.dataset.verified === "true");
    assert.equal(new URL(page.url()).hash, "", "the token leaves the address bar");
    await page.click("#logout");
    await page.waitForSelector("#signed-out:not([hidden])");

    // Forgot password?
    await page.click("#forgot-link");
    await page.fill("#forgot-account", "mailuser@example.com");
    await page.click("#forgot-button");
    await page.waitForFunction(() => document.querySelector("#message")?.textContent?.includes("a reset link is on its way"));
    const resetMail = await sink.waitFor(2);
    assert.equal(resetMail.subject, "Reset your password");

    // The link from the captured mail, in a fresh browser context (another device).
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(link(resetMail, "reset"));
    await p.waitForSelector("body[data-ready=true]");
    await p.waitForSelector("#reset-form:not([hidden])");
    // The rule applies and says why.
    await p.fill("#reset-password", "password123");
    await p.click("#reset-button");
    await p.waitForFunction(() => document.querySelector("#message")?.textContent?.includes("too easy to guess"));
    await p.fill("#reset-password", NEW_PASSWORD);
    await p.click("#reset-button");
    await p.waitForFunction(() => document.querySelector("#message")?.textContent === "Your password is set. Log in with it.");
    await loginThroughPage(p, "mailuser", NEW_PASSWORD);
    assert.equal(await p.textContent("#whoami"), "mailuser");
    await p.waitForSelector('#events tr[data-type="password_reset"]');

    // The old password no longer works, and the link was single-use.
    await page.fill("#login-username", "mailuser");
    await page.fill("#login-password", PASSWORD);
    await page.click("#login-button");
    await page.waitForFunction(() => document.querySelector("#message")?.className === "error");
    const again = await browser.newContext();
    const q = await again.newPage();
    await q.goto(link(resetMail, "reset"));
    await q.waitForSelector("body[data-ready=true]");
    await q.fill("#reset-password", "yet another long passphrase");
    await q.click("#reset-button");
    await q.waitForFunction(() => document.querySelector("#message")?.textContent?.includes("used or expired"));
    await context.close();
    await other.close();
    await again.close();
  });
});
