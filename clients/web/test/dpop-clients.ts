// The DPoP test files' client factory: clients with `dpop: true` of baton at `BASE` on a fake
// server, allowed to call `http://api.test`, each kept to be closed after its test.
import { createClient, type BatonClient, type ClientOptions } from "../src/client";
import type { FakeBaton } from "./fake-baton";

export const BASE = "http://baton.test";

/** `make` builds a client on `fake()`'s fetch with `defaults` and then `extra` over them;
 *  `closeAll` closes every one made so far. */
export function dpopClients(fake: () => FakeBaton, defaults: () => Partial<ClientOptions> = () => ({})) {
  const made: BatonClient[] = [];
  const make = (extra: Partial<ClientOptions> = {}): BatonClient => {
    const c = createClient({
      baseUrl: BASE,
      fetch: fake().fetch,
      crossTab: false,
      apiOrigins: ["http://api.test"],
      dpop: true,
      ...defaults(),
      ...extra,
    });
    made.push(c);
    return c;
  };
  const closeAll = () => {
    for (const c of made.splice(0)) c.close();
  };
  return { make, closeAll };
}
