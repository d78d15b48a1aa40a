import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BatonClient } from "../src/client";
import { FakeBaton, base64url, decodePayload } from "./fake-baton";
import { BASE, dpopClients } from "./dpop-clients";

const ME = "http://api.test/api/me?x=1#frag";

let fake: FakeBaton;

const { make: makeClient, closeAll } = dpopClients(() => fake);

/** An access token the way baton's looks to the client (its signature is not checked). */
function accessToken(n: number, jkt: string): string {
  const header = base64url(JSON.stringify({ typ: "at+jwt", alg: "EdDSA", kid: "k" }));
  const claims = base64url(
    JSON.stringify({ sub: "user-1", preferred_username: "alice", sid: "s-1", n, cnf: { jkt } }),
  );
  return `${header}.${claims}.sig`;
}

function bytesOf(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** Checks a proof as a server would (signature by its own jwk, which holds no private part);
 *  its header and claims. */
async function verifiedProof(proof: string | null): Promise<{ header: Record<string, any>; claims: Record<string, any> }> {
  expect(proof).toBeTruthy();
  const [h, c, s] = proof!.split(".");
  const header = JSON.parse(new TextDecoder().decode(bytesOf(h!)));
  const claims = decodePayload(proof!) as Record<string, any>;
  expect(header.typ).toBe("dpop+jwt");
  expect(header.alg).toBe("ES256");
  expect(header.jwk.d).toBeUndefined();
  const key = await crypto.subtle.importKey("jwk", header.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ok = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    bytesOf(s!),
    new TextEncoder().encode(`${h}.${c}`),
  );
  expect(ok).toBe(true);
  return { header, claims };
}

async function sha256(text: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let bin = "";
  for (const b of hash) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

let issued = 0;
/** Answers sign-ins and refreshes with DPoP tokens, the first `nonceRounds` asking for a nonce. */
function dpopServer(nonceRounds = 0) {
  let asked = 0;
  const answer = () =>
    new Response(
      JSON.stringify({ access_token: accessToken(++issued, "jkt"), token_type: "DPoP", expires_in: 900, refresh_expires_in: 604800 }),
      { status: 200, headers: { "Content-Type": "application/json", "DPoP-Nonce": `n${asked}` } },
    );
  const handler = () => {
    if (asked < nonceRounds) {
      asked++;
      return new Response(JSON.stringify({ error: "use_dpop_nonce" }), {
        status: 400,
        headers: { "Content-Type": "application/json", "DPoP-Nonce": `n${asked}` },
      });
    }
    return answer();
  };
  fake.overrides.set("/auth/login", handler);
  fake.overrides.set("/auth/refresh", handler);
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser("alice", "correct horse battery");
});

afterEach(() => {
  closeAll();
});

describe("DPoP", () => {
  it("signs a proof for the login and each refresh, with a fresh jti and the endpoint's URL", async () => {
    dpopServer();
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    await client.restore();
    await (client as BatonClient).getAccessToken();
    const login = await verifiedProof(fake.requests("/auth/login")[0]!.headers.get("DPoP"));
    expect(login.claims.htm).toBe("POST");
    expect(login.claims.htu).toBe(`${BASE}/auth/login`);
    expect(Math.abs(login.claims.iat - Date.now() / 1000)).toBeLessThan(5);
    expect(login.claims.ath).toBeUndefined();
    // A refresh (forced by a stale token) carries its own proof by the same key.
    fake.overrides.set("/api/me", () => new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 }));
    await client.fetch(ME);
    const refresh = await verifiedProof(fake.requests("/auth/refresh")[0]!.headers.get("DPoP"));
    expect(refresh.claims.htu).toBe(`${BASE}/auth/refresh`);
    expect(refresh.header.jwk).toEqual(login.header.jwk);
    expect(refresh.claims.jti).not.toBe(login.claims.jti);
  });

  it("sends a bound token with the DPoP scheme and a proof naming it, to allowed origins only", async () => {
    dpopServer();
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    const token = (await client.getAccessToken())!;
    fake.overrides.set("/api/me", () => new Response("{}", { status: 200 }));
    await client.fetch(ME, { method: "PATCH" });
    const sent = fake.requests("/api/me")[0]!;
    expect(sent.headers.get("Authorization")).toBe(`DPoP ${token}`);
    const proof = await verifiedProof(sent.headers.get("DPoP"));
    expect(proof.claims.htm).toBe("PATCH");
    expect(proof.claims.htu).toBe("http://api.test/api/me");
    expect(proof.claims.ath).toBe(await sha256(token));
    // Elsewhere: neither the token nor a proof.
    fake.overrides.set("/other", () => new Response("{}", { status: 200 }));
    await client.fetch("http://third.party/other");
    const other = fake.requests("/other")[0]!;
    expect(other.headers.get("Authorization")).toBeNull();
    expect(other.headers.get("DPoP")).toBeNull();
  });

  it("retries once with the server's nonce at token endpoints and resources", async () => {
    dpopServer(1);
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    const logins = fake.requests("/auth/login");
    expect(logins).toHaveLength(2);
    expect((await verifiedProof(logins[0]!.headers.get("DPoP"))).claims.nonce).toBeUndefined();
    expect((await verifiedProof(logins[1]!.headers.get("DPoP"))).claims.nonce).toBe("n1");
    let calls = 0;
    fake.overrides.set("/api/me", () =>
      ++calls === 1
        ? new Response(JSON.stringify({ error: "use_dpop_nonce" }), {
            status: 401,
            headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "api-1" },
          })
        : new Response("{}", { status: 200 }),
    );
    const res = await client.fetch(ME);
    expect(res.status).toBe(200);
    const me = fake.requests("/api/me");
    expect(me).toHaveLength(2);
    expect((await verifiedProof(me[1]!.headers.get("DPoP"))).claims.nonce).toBe("api-1");
  });

  it("logging out drops the key: the next sign-in proves another one", async () => {
    dpopServer();
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    await client.logout();
    await client.login("alice", "correct horse battery");
    const [first, second] = fake.requests("/auth/login");
    const a = await verifiedProof(first!.headers.get("DPoP"));
    const b = await verifiedProof(second!.headers.get("DPoP"));
    expect(a.header.jwk).not.toEqual(b.header.jwk);
  });

  it("a token held across a sign-in goes with the DPoP scheme it was issued with", async () => {
    fake.dpop = true;
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    const first = (await client.getAccessToken())!;
    // While the request is out, the user signs in again; the answer asks for the nonce, and
    // the request goes once more with the first token, which the client no longer holds.
    fake.overrides.set("/api/me", async () => {
      fake.overrides.delete("/api/me");
      await client.login("alice", "correct horse battery");
      return new Response(JSON.stringify({ error: "use_dpop_nonce" }), {
        status: 401,
        headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "api-1" },
      });
    });
    const res = await client.fetch(ME);
    expect(res.status).toBe(200);
    expect(await client.getAccessToken()).not.toBe(first);
    const me = fake.requests("/api/me");
    expect(me).toHaveLength(2);
    expect(me[1]!.headers.get("Authorization")).toBe(`DPoP ${first}`);
    expect(fake.count("/auth/refresh")).toBe(0);
  });

  it("signs htm as fetch sends the method: DELETE upper-cased, patch as written", async () => {
    fake.dpop = true;
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    fake.overrides.set("/api/thing", () => new Response("{}", { status: 200 }));
    await client.fetch("http://api.test/api/thing", { method: "delete" });
    await client.fetch("http://api.test/api/thing", { method: "patch" });
    const [del, patch] = fake.requests("/api/thing");
    expect(del!.method).toBe("DELETE");
    expect((await verifiedProof(del!.headers.get("DPoP"))).claims.htm).toBe("DELETE");
    expect(patch!.method).toBe("patch");
    expect((await verifiedProof(patch!.headers.get("DPoP"))).claims.htm).toBe("patch");
  });

  it("takes no nonce from an answer that came by way of a redirect", async () => {
    dpopServer();
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    fake.overrides.set("/api/me", () => {
      const res = new Response("{}", { status: 200, headers: { "DPoP-Nonce": "another-origins" } });
      Object.defineProperty(res, "redirected", { value: true });
      return res;
    });
    await client.fetch(ME);
    await client.fetch(ME);
    const second = await verifiedProof(fake.requests("/api/me")[1]!.headers.get("DPoP"));
    expect(second.claims.nonce).toBeUndefined();
  });

  it("without dpop nothing changes: bearer tokens and no proofs", async () => {
    const client = makeClient({ dpop: false });
    await client.login("alice", "correct horse battery");
    await client.fetch(ME);
    expect(fake.requests("/auth/login")[0]!.headers.get("DPoP")).toBeNull();
    expect(fake.requests("/api/me")[0]!.headers.get("Authorization")).toMatch(/^Bearer /);
  });
});
