// Verify a baton access token with jose, from the JWKS alone (the snippet in the README).
// Usage: node verify_token.mjs ISSUER AUDIENCE TOKEN -> prints the claims, exit 0 when valid.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));

try {
  const { payload } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: "at+jwt",
    algorithms: ["EdDSA", "ES256", "RS256"],
  });
  console.log(JSON.stringify(payload));
} catch (e) {
  console.error(`refused: ${e.code ?? e.message}`);
  process.exit(1);
}
