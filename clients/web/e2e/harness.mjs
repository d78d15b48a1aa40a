// End-to-end harness: a real `baton serve` on a random port with a temporary database, and
// Debian's Chromium driven by playwright-core.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");

/**
 * Starts baton with `env` added; resolves to { base, stop, cli }. `cli(args)` runs a `baton`
 * command against the same database and answers its standard output (it throws on failure).
 */
export async function startBaton(env = {}) {
  const bin = process.env.BATON_BIN ?? join(repoRoot, "target/debug/baton");
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-"));
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("BATON_") || k === "BATON_BIN"),
  );
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0"], {
    cwd: dir,
    env: { ...clean, RUST_LOG: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines = createInterface({ input: child.stderr });
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error("baton did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`baton exited early with ${code}`)));
    lines.on("line", (line) => {
      const m = /^baton listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveBase(m[1]);
      } else if (process.env.E2E_VERBOSE) {
        console.error(`[baton] ${line}`);
      }
    });
  });
  return {
    base,
    cli(args) {
      const out = spawnSync(bin, args, { cwd: dir, env: { ...clean, RUST_LOG: "warn", ...env }, encoding: "utf8" });
      if (out.status !== 0) throw new Error(`baton ${args.join(" ")} failed: ${out.stderr}`);
      return out.stdout;
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the Authlib relying party (`interop/python/oidc_rp.py`) for `clientId`; resolves to
 * { base, stop }, or null when there is no interop Python and the test command does not
 * require one.
 */
export async function startRelyingParty(issuer, clientId, secret) {
  const python = process.env.BATON_INTEROP_PYTHON;
  if (!python) {
    if (process.env.BATON_REQUIRE_INTEROP) throw new Error("BATON_REQUIRE_INTEROP is set but BATON_INTEROP_PYTHON is not");
    return null;
  }
  const child = spawn(python, [join(repoRoot, "interop/python/oidc_rp.py"), issuer, clientId, secret], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("the relying party did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`the relying party exited early with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolvePort(Number(line.trim()));
    });
  });
  return {
    base: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    },
  };
}

/**
 * Starts the tests' SMTP server (aiosmtpd, `interop/python/smtp_sink.py`, with the Python of
 * `BATON_INTEROP_PYTHON`); resolves to { url, mails(), stop }, or null when there is no such
 * Python and the test command does not require one.
 */
export async function startSmtpSink() {
  const python = process.env.BATON_INTEROP_PYTHON;
  if (!python) {
    if (process.env.BATON_REQUIRE_INTEROP) throw new Error("BATON_REQUIRE_INTEROP is set but BATON_INTEROP_PYTHON is not");
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), "baton-mail-"));
  const child = spawn(python, [join(repoRoot, "interop/python/smtp_sink.py"), dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("the SMTP sink did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`the SMTP sink exited early with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolvePort(Number(line.trim()));
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    /** The mails delivered so far, oldest first: { to, subject, text }. */
    mails() {
      return readdirSync(dir)
        .filter((f) => f.endsWith(".eml"))
        .sort()
        .map((f) => parseMail(readFileSync(join(dir, f), "latin1")));
    },
    /** Waits (up to 20 s) for the `n`th mail. */
    async waitFor(n) {
      for (let i = 0; i < 200; i++) {
        const all = this.mails();
        if (all.length >= n) return all[n - 1];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`mail ${n} did not arrive`);
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The headers and plain-text part of a MIME mail, its transfer encoding undone. */
function parseMail(raw) {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = unfold(head);
  const body = rest.join("\n\n");
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers["content-type"] ?? "")?.[1];
  let text = body;
  let encoding = headers["content-transfer-encoding"];
  if (boundary) {
    for (const part of body.split(`--${boundary}`)) {
      const [partHead, ...partBody] = part.replace(/^\r?\n/, "").split(/\r?\n\r?\n/);
      const h = unfold(partHead);
      if ((h["content-type"] ?? "").startsWith("text/plain")) {
        text = partBody.join("\n\n");
        encoding = h["content-transfer-encoding"];
        break;
      }
    }
  }
  if (/quoted-printable/i.test(encoding ?? "")) {
    text = text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  } else if (/base64/i.test(encoding ?? "")) {
    text = Buffer.from(text.replace(/\s+/g, ""), "base64").toString("latin1");
  }
  return { to: headers.to ?? "", subject: headers.subject ?? "", text: Buffer.from(text, "latin1").toString("utf8") };
}

function unfold(head) {
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

/** Launches headless Chromium from the system package. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Creates an account through the API (not the page). */
export async function register(base, username, password) {
  const res = await fetch(`${base}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 201) throw new Error(`register ${username}: ${res.status}`);
}

/** A virtual authenticator for `page` (Chromium's, over CDP): a platform one that holds
 *  passkeys, verifies its user and answers at once. */
export async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Opens the demo page and waits until it has tried to restore a session. */
export async function openDemo(page, base, query = "") {
  await page.goto(`${base}/${query}`);
  await page.waitForSelector("body[data-ready=true]");
}

/** Logs in through the demo page's form. */
export async function loginThroughPage(page, username, password) {
  await page.fill("#login-username", username);
  await page.fill("#login-password", password);
  await page.click("#login-button");
  await page.waitForSelector("#signed-in:not([hidden])");
}
