// baton's sign-in pages: passkeys, where the browser has them. The pages work without this
// script; it reveals the passkey button of a page (`#passkey`), asks baton for the options of
// a sign-in (`POST /auth/webauthn/login/start`, with the second step's `mfa_token` when the
// form has one) as the page opens, so that a click goes straight to the browser's prompt, and
// posts the passkey's answer with the page's form.
"use strict";

(function () {
  const section = document.getElementById("passkey");
  const form = document.getElementById("passkey-form");
  const button = document.getElementById("passkey-button");
  const failure = document.getElementById("passkey-error");
  if (!section || !form || !button || !failure) return;
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  // A passkey belongs to a domain: browsers refuse WebAuthn on an IP-address origin.
  if (/^[0-9.]+$/.test(location.hostname) || location.hostname.startsWith("[")) return;

  /** A ceremony's options are good for five minutes; one older than this is fetched again. */
  const FRESH_MS = 4 * 60 * 1000;
  const token = form.elements.namedItem("mfa_token");

  /** base64url (no padding) to bytes. */
  function bytesOf(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  /** Bytes to base64url without padding, as WebAuthn's JSON has them. */
  function textOf(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /** The second step's sign-in has ended (too long, too many tries): the form goes without
   *  an answer, and baton's page says so. */
  function ended() {
    for (const name of ["ceremony", "credential"]) form.elements.namedItem(name).remove();
    form.submit();
  }

  async function start() {
    const res = await fetch("/auth/webauthn/login/start", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(token ? { mfa_token: token.value } : {}),
    });
    if (res.status === 401 && token) return { ended: true };
    if (!res.ok) throw new Error("no passkey options");
    return { at: Date.now(), options: await res.json() };
  }

  let ahead = start();
  ahead.catch(() => {});

  async function answer(options) {
    const json = options.publicKey;
    const publicKey = Object.assign({}, json, {
      challenge: bytesOf(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((d) =>
        Object.assign({}, d, { id: bytesOf(d.id) }),
      ),
    });
    const credential = await navigator.credentials.get({ publicKey });
    if (!credential) throw new Error("no passkey");
    const response = credential.response;
    return {
      id: credential.id,
      rawId: textOf(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: textOf(response.clientDataJSON),
        authenticatorData: textOf(response.authenticatorData),
        signature: textOf(response.signature),
        userHandle: response.userHandle ? textOf(response.userHandle) : null,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    failure.hidden = true;
    try {
      let ready = await ahead.catch(() => null);
      if (!ready || (!ready.ended && Date.now() - ready.at > FRESH_MS)) ready = await start();
      if (ready.ended) return ended();
      // Each ceremony is used once: the next try gets its own.
      ahead = start();
      ahead.catch(() => {});
      const credential = await answer(ready.options);
      form.elements.namedItem("ceremony").value = ready.options.ceremony;
      form.elements.namedItem("credential").value = JSON.stringify(credential);
      form.submit();
    } catch (e) {
      failure.hidden = false;
      button.disabled = false;
    }
  });
  section.hidden = false;
  const needed = document.getElementById("passkey-needed");
  if (needed) needed.hidden = true;
})();
