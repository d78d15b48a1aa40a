// DPoP proofs against a server that checks their `iat` on its own clock (60 seconds before it
// to 5 after), from a device whose clock is off.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BatonError } from "../src/client";
import { FakeBaton, decodePayload } from "./fake-baton";
import { dpopClients } from "./dpop-clients";

const ME = "http://api.test/api/me";

let fake: FakeBaton;
/** How far the device's clock is ahead of the server's, in milliseconds. */
let deviceAhead = 0;

const { make: makeClient, closeAll } = dpopClients(
  () => fake,
  () => ({ now: () => Date.now() + deviceAhead }),
);

/** The `iat` of each proof sent to `path`. */
const iats = (path: string) => fake.requests(path).map((r) => decodePayload(r.headers.get("DPoP")!).iat as number);

const serverSeconds = () => Math.floor(Date.now() / 1000);

const refused = (date: Date) =>
  new Response(
    JSON.stringify({ error: "invalid_dpop_proof", error_description: "The DPoP proof is too old or from the future" }),
    { status: 400, headers: { "Content-Type": "application/json", Date: date.toUTCString() } },
  );

beforeEach(() => {
  fake = new FakeBaton();
  fake.dpop = true;
  fake.addUser("alice", "correct horse battery");
  deviceAhead = 0;
});

afterEach(() => {
  closeAll();
});

describe("DPoP on the server's clock", () => {
  it.each([
    ["10 seconds fast", 10_000],
    ["two minutes slow", -120_000],
  ])("with the device clock %s, the refused login goes once more on baton's clock, and later proofs use it at once", async (_, ahead) => {
    deviceAhead = ahead;
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    expect(client.state.status).toBe("signed-in");
    expect(fake.count("/auth/login")).toBe(2);
    const [wrong, right] = iats("/auth/login");
    expect(Math.abs(wrong! - (serverSeconds() + ahead / 1000))).toBeLessThanOrEqual(2);
    expect(Math.abs(right! - serverSeconds())).toBeLessThanOrEqual(2);
    // A refresh and a resource now take the first proof.
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(200);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(fake.count("/api/me")).toBe(2); // the expired token's 401, then the new one's 200
    for (const iat of [...iats("/auth/refresh"), ...iats("/api/me")]) {
      expect(Math.abs(iat - serverSeconds())).toBeLessThanOrEqual(2);
    }
  });

  it("a clock that jumps mid-session: the resource's refusal corrects it and the request goes once more", async () => {
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    deviceAhead = 30_000;
    const res = await client.fetch(ME);
    expect(res.status).toBe(200);
    const me = fake.requests("/api/me");
    expect(me).toHaveLength(2);
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(Math.abs(iats("/api/me")[1]! - serverSeconds())).toBeLessThanOrEqual(2);
  });

  it("a refresh refused for its clock goes once more and rotates the token once, without reuse", async () => {
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    const [sid] = fake.sessionIds();
    deviceAhead = 30_000;
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(200);
    const refreshes = fake.requests("/auth/refresh");
    expect(refreshes).toHaveLength(2);
    expect(Math.abs(iats("/auth/refresh")[1]! - serverSeconds())).toBeLessThanOrEqual(2);
    // The refused one spent nothing: the retry rotated the cookie, no reuse was detected.
    expect(fake.isRevoked(sid!)).toBe(false);
    expect(fake.sessionIds()).toEqual([sid]);
    expect(client.state.status).toBe("signed-in");
  });

  it("never twice: a proof refused again is answered as it is, whatever the Date says", async () => {
    let shift = 0;
    fake.overrides.set("/auth/login", () => refused(new Date(Date.now() + (shift += 30_000))));
    const client = makeClient();
    const err = await client.login("alice", "correct horse battery").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect((err as BatonError).code).toBe("invalid_dpop_proof");
    expect(fake.count("/auth/login")).toBe(2);
  });

  it("a refusal whose Date agrees with the clock in use is not retried", async () => {
    fake.overrides.set("/auth/login", () => refused(new Date()));
    const client = makeClient();
    await expect(client.login("alice", "correct horse battery")).rejects.toMatchObject({ code: "invalid_dpop_proof" });
    expect(fake.count("/auth/login")).toBe(1);
  });

  it("other refusals are final: a refresh answered invalid_token goes once, however far off the Date", async () => {
    const client = makeClient();
    await client.login("alice", "correct horse battery");
    fake.overrides.set(
      "/auth/refresh",
      () =>
        new Response(JSON.stringify({ error: "invalid_token", error_description: "Refresh token reuse detected" }), {
          status: 401,
          headers: { "Content-Type": "application/json", Date: new Date(Date.now() + 600_000).toUTCString() },
        }),
    );
    fake.expireAccessTokens();
    expect((await client.fetch(ME)).status).toBe(401);
    expect(fake.count("/auth/refresh")).toBe(1);
    expect(client.state.status).toBe("signed-out");
  });
});
