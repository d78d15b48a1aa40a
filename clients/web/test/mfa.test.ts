// Second factors in the client: a login that needs one, its second step, the step-up refusal
// of a sensitive change, and passkeys with WebAuthn stood in for (the real browser and
// authenticator are in e2e/mfa.test.mjs).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  BatonError,
  createClient,
  type AuthState,
  type BatonClient,
  type ChangeReason,
  type PasskeyOptions,
  type PasskeyRegistered,
} from "../src/client";
import { FakeBaton, base64url, decodePayload } from "./fake-baton";

const BASE = "http://baton.test";
const ME = "http://baton.test/api/me";
const USER = "alice";
const PASSWORD = "correct horse battery";
const CODE = "123456";
const RECOVERY = ["abcd-efgh-ijkl-mnop", "qrst-uvwx-yzab-cdef"];

let fake: FakeBaton;
const clients: BatonClient[] = [];

function makeClient(): BatonClient {
  const c = createClient({ baseUrl: BASE, fetch: fake.fetch, crossTab: false });
  clients.push(c);
  return c;
}

function record(c: BatonClient): Array<[AuthState["status"], ChangeReason]> {
  const events: Array<[AuthState["status"], ChangeReason]> = [];
  c.onChange((s, r) => events.push([s.status, r]));
  return events;
}

/** The `mfa_token` of a correct password. */
async function firstStep(client: BatonClient): Promise<string> {
  const result = await client.login(USER, PASSWORD);
  if (result.status !== "mfa-required") throw new Error(`expected mfa-required, got ${result.status}`);
  return result.mfaToken;
}

/** A client signed in with the password and the app's code. */
async function signedIn(): Promise<BatonClient> {
  const client = makeClient();
  await client.loginWithCode(await firstStep(client), CODE);
  return client;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

beforeEach(() => {
  fake = new FakeBaton();
  fake.addUser(USER, PASSWORD);
  fake.addSecondFactor(USER, CODE, RECOVERY);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  vi.unstubAllGlobals();
});

describe("a login with a second factor", () => {
  it("login resolves to mfa-required with the token and the methods, and signs nothing in", async () => {
    const client = makeClient();
    const events = record(client);
    const result = await client.login(USER, PASSWORD);
    expect(result).toEqual({ status: "mfa-required", mfaToken: expect.stringMatching(/^mfa-/), methods: ["totp", "recovery_code"] });
    expect(client.state).toEqual({ status: "unknown" });
    expect(events).toEqual([]);
    expect(fake.cookie).toBeNull();
    expect(await client.getAccessToken()).toBeNull();
  });

  it("loginWithCode finishes it as a login does: cookie delivery, listeners told with reason login, the API usable", async () => {
    const client = makeClient();
    const events = record(client);
    const mfaToken = await firstStep(client);
    const user = await client.loginWithCode(mfaToken, CODE);

    const [second] = fake.requests("/auth/login/mfa");
    expect(JSON.parse(second!.body)).toEqual({ mfa_token: mfaToken, code: CODE });
    expect(second!.credentials).toBe("include");
    expect(JSON.parse(fake.requests("/auth/login")[0]!.body)).toMatchObject({ delivery: "cookie" });
    expect(fake.cookie).toMatch(/^rt-/);
    const claims = decodePayload((await client.getAccessToken())!);
    expect(user).toEqual({ id: claims.sub, username: USER, sessionId: claims.sid });
    expect(client.state).toMatchObject({ status: "signed-in", user });
    expect(events).toEqual([["signed-in", "login"]]);
    expect((await client.fetch(ME)).status).toBe(200);
  });

  it("a wrong code throws invalid_code and leaves the client signed out; the right one then signs in", async () => {
    const client = makeClient();
    await client.restore();
    const events = record(client);
    const mfaToken = await firstStep(client);

    const err = await client.loginWithCode(mfaToken, "000000").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 401, code: "invalid_code", description: "Invalid or already used code" });
    expect(client.state).toEqual({ status: "signed-out" });
    expect(events).toEqual([]);
    expect(fake.cookie).toBeNull();

    await expect(client.loginWithCode(mfaToken, CODE)).resolves.toMatchObject({ username: USER });
    expect(events).toEqual([["signed-in", "login"]]);
  });

  it("a recovery code signs in once; the second time it is refused", async () => {
    const client = makeClient();
    const first = await firstStep(client);
    await expect(client.loginWithRecoveryCode(first, RECOVERY[0]!)).resolves.toMatchObject({ username: USER });
    expect(JSON.parse(fake.requests("/auth/login/mfa")[0]!.body)).toEqual({
      mfa_token: first,
      recovery_code: RECOVERY[0],
    });
    await client.logout();

    const again = await firstStep(client);
    await expect(client.loginWithRecoveryCode(again, RECOVERY[0]!)).rejects.toMatchObject({ code: "invalid_code" });
    expect(client.state.status).toBe("signed-out");
    await expect(client.loginWithRecoveryCode(again, RECOVERY[1]!)).resolves.toMatchObject({ username: USER });
  });

  it("a used token is invalid_token, which neither refreshes nor ends the session signed in meanwhile", async () => {
    const client = makeClient();
    const mfaToken = await firstStep(client);
    await client.loginWithCode(mfaToken, CODE);
    const events = record(client);
    const token = await client.getAccessToken();

    await expect(client.loginWithCode(mfaToken, CODE)).rejects.toMatchObject({
      status: 401,
      code: "invalid_token",
      description: "Invalid or expired MFA token",
    });
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(client.state.status).toBe("signed-in");
    expect(await client.getAccessToken()).toBe(token);
    expect(events).toEqual([]);
  });
});

describe("step-up (insufficient_user_authentication)", () => {
  it("a password change refused for an old sign-in throws its own BatonError, and neither refreshes nor signs out", async () => {
    const client = await signedIn();
    const events = record(client);
    const token = await client.getAccessToken();
    fake.staleSignIns = true;

    const err = await client.changePassword(PASSWORD, "a brand new password").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 401, code: "insufficient_user_authentication" });
    expect(fake.count("/auth/password")).toBe(1);
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(fake.count("/auth/logout")).toBe(0);
    expect(client.state.status).toBe("signed-in");
    expect(await client.getAccessToken()).toBe(token);
    expect(events).toEqual([]);
  });

  it("client.fetch hands the refusal back untouched, without a refresh or a retry", async () => {
    const client = await signedIn();
    fake.staleSignIns = true;
    const res = await client.fetch(`${BASE}/auth/email`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: "alice@example.com", current_password: PASSWORD }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="insufficient_user_authentication"');
    expect(res.headers.get("WWW-Authenticate")).toContain("max_age=600");
    expect(fake.count("/auth/email")).toBe(1);
    expect(fake.count("/auth/refresh")).toBe(0);
    expect(client.state.status).toBe("signed-in");
  });

  it("with a code from the app the changes go through", async () => {
    const client = await signedIn();
    fake.staleSignIns = true;
    await expect(client.setEmail("alice@example.com", PASSWORD)).rejects.toMatchObject({
      code: "insufficient_user_authentication",
    });
    await client.setEmail("alice@example.com", PASSWORD, { code: CODE });
    expect(client.state).toMatchObject({ user: { email: "alice@example.com", emailVerified: false } });
    await client.changePassword(PASSWORD, "a brand new password", { code: CODE });
    expect(JSON.parse(fake.requests("/auth/password")[0]!.body)).toEqual({
      current_password: PASSWORD,
      new_password: "a brand new password",
      code: CODE,
    });
    expect(client.state.status).toBe("signed-in");
  });
});

describe("passkeys, with WebAuthn stood in for", () => {
  // Bytes whose base64 has `+`, `/` and padding: base64url must turn them into `-`, `_` and
  // nothing.
  const CHALLENGE = new Uint8Array([0xfb, 0xff, 0xfe, 0x01]);
  const CHALLENGE_TEXT = "-__-AQ";
  const bytes = (...b: number[]) => new Uint8Array(b).buffer;

  /** Installs a `PublicKeyCredential` class and a `navigator.credentials` whose `create` and
   *  `get` record their options and answer with fixed bytes. */
  function standInWebAuthn() {
    class PublicKeyCredential {
      constructor(fields: object) {
        Object.assign(this, fields);
      }
    }
    const answer = (response: object) =>
      new PublicKeyCredential({
        id: "AQID",
        rawId: bytes(1, 2, 3),
        type: "public-key",
        response,
        getClientExtensionResults: () => ({ credProps: { rk: true } }),
      });
    const seen: { create?: CredentialCreationOptions; get?: CredentialRequestOptions } = {};
    vi.stubGlobal("PublicKeyCredential", PublicKeyCredential);
    vi.stubGlobal("navigator", {
      credentials: {
        create: async (options: CredentialCreationOptions) => {
          seen.create = options;
          return answer({
            clientDataJSON: bytes(0x7b, 0x7d),
            attestationObject: bytes(0xa0),
            getTransports: () => ["internal"],
          });
        },
        get: async (options: CredentialRequestOptions) => {
          seen.get = options;
          return answer({
            clientDataJSON: bytes(0x7b, 0x7d),
            authenticatorData: bytes(0xfb, 0xef),
            signature: bytes(0x30, 0x44),
            userHandle: bytes(0xff),
          });
        },
      },
    });
    return seen;
  }

  it("loginWithPasskey decodes the options, sends the assertion as base64url and signs in with cookie delivery", async () => {
    const seen = standInWebAuthn();
    const options: PasskeyOptions = {
      ceremony: "sealed-ceremony",
      publicKey: { challenge: CHALLENGE_TEXT, rpId: "baton.test", allowCredentials: [], userVerification: "required" },
    };
    fake.overrides.set("/auth/webauthn/login/start", () => json(200, options));
    // Answers as a password login of a user without a second factor would.
    fake.addUser("bob", PASSWORD);
    fake.overrides.set("/auth/webauthn/login/finish", (req) =>
      fake.fetch(`${BASE}/auth/login`, {
        method: "POST",
        credentials: req.credentials,
        body: JSON.stringify({ username: "bob", password: PASSWORD, delivery: "cookie" }),
      }),
    );
    const client = makeClient();
    const events = record(client);

    await expect(client.loginWithPasskey()).resolves.toMatchObject({ username: "bob" });
    expect(JSON.parse(fake.requests("/auth/webauthn/login/start")[0]!.body)).toEqual({});
    const publicKey = seen.get!.publicKey!;
    expect(new Uint8Array(publicKey.challenge as ArrayBuffer)).toEqual(CHALLENGE);
    expect(publicKey).toMatchObject({ rpId: "baton.test", allowCredentials: [], userVerification: "required" });
    const finish = fake.requests("/auth/webauthn/login/finish")[0]!;
    expect(finish.credentials).toBe("include");
    expect(JSON.parse(finish.body)).toEqual({
      ceremony: "sealed-ceremony",
      credential: {
        id: "AQID",
        rawId: "AQID",
        type: "public-key",
        response: { clientDataJSON: "e30", authenticatorData: "--8", signature: "MEQ", userHandle: "_w" },
        extensions: { credProps: { rk: true } },
      },
      delivery: "cookie",
    });
    expect(events).toEqual([["signed-in", "login"]]);
    expect(fake.cookie).toMatch(/^rt-/);
  });

  it("loginWithPasskeyAsSecondFactor asks for the account's passkeys and finishes the login at /auth/login/mfa", async () => {
    const seen = standInWebAuthn();
    fake.overrides.set("/auth/webauthn/login/start", () =>
      json(200, {
        ceremony: "mfa-ceremony",
        publicKey: { challenge: CHALLENGE_TEXT, allowCredentials: [{ type: "public-key", id: "AQID" }] },
      } satisfies PasskeyOptions),
    );
    const client = makeClient();
    const mfaToken = await firstStep(client);
    // The fake takes no passkey: its refusal shows what went out.
    const err = await client.loginWithPasskeyAsSecondFactor(mfaToken).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, code: "invalid_code" });
    expect(JSON.parse(fake.requests("/auth/webauthn/login/start")[0]!.body)).toEqual({ mfa_token: mfaToken });
    const allowed = seen.get!.publicKey!.allowCredentials!;
    expect(new Uint8Array(allowed[0]!.id as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    expect(JSON.parse(fake.requests("/auth/login/mfa")[0]!.body)).toMatchObject({
      mfa_token: mfaToken,
      webauthn: { ceremony: "mfa-ceremony", credential: { rawId: "AQID", response: { userHandle: "_w" } } },
    });
    expect(client.state.status).toBe("unknown");
  });

  it("registerPasskey decodes challenge, user id and excluded ids, and gives the first factor's recovery codes", async () => {
    const seen = standInWebAuthn();
    const userId = base64url("user-1");
    fake.overrides.set("/auth/webauthn/register/start", () =>
      json(200, {
        ceremony: "register-ceremony",
        publicKey: {
          rp: { id: "baton.test", name: "baton" },
          user: { id: userId, name: USER, displayName: USER },
          challenge: CHALLENGE_TEXT,
          pubKeyCredParams: [{ type: "public-key", alg: -7 }],
          excludeCredentials: [{ type: "public-key", id: "BAUG" }],
          authenticatorSelection: { residentKey: "required", userVerification: "required" },
        },
      } satisfies PasskeyOptions),
    );
    const registered: PasskeyRegistered = {
      credential: { id: "AQID", name: "Laptop", created_at: "2025-01-01T00:00:00Z", last_used_at: null, backup_eligible: false },
      recovery_codes: RECOVERY,
    };
    fake.overrides.set("/auth/webauthn/register/finish", () => json(201, registered));
    const client = await signedIn();

    const added = await client.registerPasskey(PASSWORD, { name: "Laptop", code: CODE });
    expect(added).toEqual({ credential: registered.credential, recoveryCodes: RECOVERY });
    const start = fake.requests("/auth/webauthn/register/start")[0]!;
    expect(start.headers.get("Authorization")).toMatch(/^Bearer /);
    expect(JSON.parse(start.body)).toEqual({ current_password: PASSWORD, code: CODE });
    const publicKey = seen.create!.publicKey!;
    expect(new Uint8Array(publicKey.challenge as ArrayBuffer)).toEqual(CHALLENGE);
    expect(new TextDecoder().decode(publicKey.user.id as ArrayBuffer)).toBe("user-1");
    expect(new Uint8Array(publicKey.excludeCredentials![0]!.id as ArrayBuffer)).toEqual(new Uint8Array([4, 5, 6]));
    expect(publicKey.authenticatorSelection).toEqual({ residentKey: "required", userVerification: "required" });
    expect(JSON.parse(fake.requests("/auth/webauthn/register/finish")[0]!.body)).toEqual({
      ceremony: "register-ceremony",
      credential: {
        id: "AQID",
        rawId: "AQID",
        type: "public-key",
        response: { clientDataJSON: "e30", attestationObject: "oA", transports: ["internal"] },
        extensions: { credProps: { rk: true } },
      },
      name: "Laptop",
    });
  });

  it("a dismissed prompt is passkey_failed with the browser's exception as its cause", async () => {
    standInWebAuthn();
    const dismissed = new DOMException("The operation either timed out or was not allowed.", "NotAllowedError");
    vi.stubGlobal("navigator", { credentials: { get: () => Promise.reject(dismissed) } });
    fake.overrides.set("/auth/webauthn/login/start", () =>
      json(200, { ceremony: "c", publicKey: { challenge: CHALLENGE_TEXT } } satisfies PasskeyOptions),
    );
    const err = await makeClient().loginWithPasskey().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ status: 0, code: "passkey_failed", cause: dismissed });
    expect(fake.count("/auth/webauthn/login/finish")).toBe(0);
  });

  it("without WebAuthn, passkeys_unsupported before any request (no code spent on a ceremony)", async () => {
    const client = await signedIn();
    const before = fake.log.length;
    await expect(client.loginWithPasskey()).rejects.toMatchObject({ code: "passkeys_unsupported" });
    await expect(client.registerPasskey(PASSWORD, { code: CODE })).rejects.toMatchObject({ code: "passkeys_unsupported" });
    expect(fake.log.length).toBe(before);
  });
});
