// A second, independent relying party: oidc-client-ts in Chromium, as a single-page app with a
// public client. The code flow with PKCE from the browser (cross-origin token and userinfo
// calls under baton's CORS), the ID token's claims as the library checks them, then a refresh
// with the refresh token (rotated).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { launchChromium, register, startBaton } from "./harness.mjs";

const PASSWORD = "correct horse battery";
const LIBRARY = join(import.meta.dirname, "../node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js");

/** The app's one page: it starts the sign-in, or finishes it on /callback and refreshes. */
function page(authority) {
  return `<!doctype html><meta charset="utf-8"><title>SPA</title>
<script src="/oidc-client-ts.min.js"></script>
<script>
const mgr = new oidc.UserManager({
  authority: ${JSON.stringify(authority)},
  client_id: "spa",
  redirect_uri: location.origin + "/callback",
  response_type: "code",
  scope: "openid profile offline_access",
  loadUserInfo: true,
  automaticSilentRenew: false,
});
const show = (id, value) => {
  const pre = document.createElement("pre");
  pre.id = id;
  pre.textContent = typeof value === "string" ? value : JSON.stringify(value);
  document.body.append(pre);
};
(async () => {
  try {
    if (location.pathname === "/callback") {
      const user = await mgr.signinRedirectCallback();
      show("result", { profile: user.profile, scope: user.scope, refresh: !!user.refresh_token });
      const renewed = await mgr.signinSilent();
      show("renewed", { rotated: renewed.refresh_token !== user.refresh_token, sub: renewed.profile.sub });
    } else {
      await mgr.signinRedirect();
    }
  } catch (e) {
    show("error", String(e && e.message || e));
  }
})();
</script>`;
}

describe("OpenID Connect with oidc-client-ts in Chromium", { timeout: 120_000 }, () => {
  let baton;
  let browser;
  let server;
  let spa;

  before(async () => {
    let authority = "";
    server = createServer((req, res) => {
      if (req.url === "/oidc-client-ts.min.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        return res.end(readFileSync(LIBRARY));
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page(authority));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    spa = `http://127.0.0.1:${server.address().port}`;
    baton = await startBaton({ BATON_ALLOWED_ORIGINS: spa });
    authority = baton.base;
    baton.cli([
      "client", "add", "spa", "--first-party", "--redirect-uri", "http://127.0.0.1/callback",
      "--scope", "openid profile offline_access",
    ]);
    await register(baton.base, "carol", PASSWORD);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await baton?.stop();
    server?.close();
  });

  test("a public client signs in with PKCE from the browser and refreshes", async () => {
    const context = await browser.newContext();
    const tab = await context.newPage();
    await tab.goto(`${spa}/`);
    await tab.waitForSelector("form[action='/oauth/authorize/login']");
    await tab.fill("#username", "carol");
    await tab.fill("#password", PASSWORD);
    await tab.click("button[type=submit]");
    await tab.waitForSelector("#renewed, #error", { timeout: 20_000 });
    const error = await tab.$("#error");
    if (error) throw new Error(`oidc-client-ts failed: ${await error.textContent()}`);
    const result = JSON.parse(await tab.textContent("#result"));
    assert.equal(result.profile.preferred_username, "carol");
    assert.equal(result.profile.aud, "spa");
    assert.equal(result.refresh, true);
    assert.match(result.scope, /openid/);
    const renewed = JSON.parse(await tab.textContent("#renewed"));
    assert.equal(renewed.rotated, true);
    assert.equal(renewed.sub, result.profile.sub);
    await context.close();
  });
});
