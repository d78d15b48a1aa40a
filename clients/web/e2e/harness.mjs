// End-to-end harness: a real `baton serve` on a random port with a temporary database, and
// Debian's Chromium driven by playwright-core.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");

/** Starts baton with `env` added; resolves to { base, stop }. */
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
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
