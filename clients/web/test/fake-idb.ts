/**
 * A stand-in for the browser's IndexedDB, as much of it as the client's DPoP key store uses:
 * databases of object stores with out-of-line keys, `get`, `put` and `delete` in a transaction
 * that completes (and only then commits) after its requests succeed, and the events of opening
 * (`upgradeneeded`, `success`, `error`, `blocked`, and `versionchange` on open connections).
 * Values are kept as given (a browser clones them; a `CryptoKeyPair` stays usable either way).
 *
 * Like a browser, it reports what an event handler throws (in `thrown`) and goes on. Its knobs
 * make it fail the ways a browser's can. Install it with `vi.stubGlobal("indexedDB", fake)`.
 */

type Handler = ((this: unknown, event: unknown) => void) | null;

class FakeRequest {
  result: unknown = undefined;
  error: DOMException | null = null;
  transaction: FakeTransaction | null = null;
  onsuccess: Handler = null;
  onerror: Handler = null;
  onupgradeneeded: Handler = null;
  onblocked: Handler = null;
}

class FakeStore {
  constructor(
    private readonly tx: FakeTransaction,
    private readonly data: Map<unknown, unknown>,
  ) {}

  get(key: unknown): FakeRequest {
    return this.tx.queue(() => this.data.get(key));
  }

  put(value: unknown, key: unknown): FakeRequest {
    return this.tx.queue(() => {
      this.tx.writes.push(() => this.data.set(key, value));
      return key;
    });
  }

  delete(key: unknown): FakeRequest {
    return this.tx.queue(() => {
      this.tx.writes.push(() => this.data.delete(key));
      return undefined;
    });
  }
}

class FakeTransaction {
  error: DOMException | null = null;
  oncomplete: Handler = null;
  onerror: Handler = null;
  onabort: Handler = null;
  readonly writes: (() => void)[] = [];
  private readonly requests: [FakeRequest, () => unknown][] = [];

  constructor(
    private readonly idb: FakeIndexedDB,
    private readonly data: Map<unknown, unknown>,
    readonly mode: IDBTransactionMode,
  ) {
    // Runs once the caller has set its handlers, as a browser's does.
    idb.later(() => this.run());
  }

  objectStore(): FakeStore {
    return new FakeStore(this, this.data);
  }

  queue(op: () => unknown): FakeRequest {
    const request = new FakeRequest();
    request.transaction = this;
    this.requests.push([request, op]);
    return request;
  }

  private run(): void {
    for (const [request, op] of this.requests) {
      request.result = op();
      this.idb.fire(request, "onsuccess");
    }
    if (this.mode === "readwrite" && this.idb.abortWrites !== null) {
      // The requests succeeded; committing did not (a full disk, say).
      this.error = this.idb.abortWrites;
      this.idb.fire(this, "onabort");
      return;
    }
    for (const write of this.writes) write();
    this.idb.fire(this, "oncomplete");
  }
}

class FakeDatabase {
  closed = false;
  onversionchange: Handler = null;

  constructor(
    private readonly idb: FakeIndexedDB,
    private readonly stores: Map<string, Map<unknown, unknown>>,
  ) {}

  get objectStoreNames() {
    return { contains: (name: string) => this.stores.has(name) };
  }

  createObjectStore(name: string): void {
    this.stores.set(name, new Map());
  }

  transaction(name: string, mode: IDBTransactionMode = "readonly"): FakeTransaction {
    if (this.closed) throw new DOMException("The database connection is closing", "InvalidStateError");
    const data = this.stores.get(name);
    if (!data) throw new DOMException(`No object store named ${name}`, "NotFoundError");
    return new FakeTransaction(this.idb, data, mode);
  }

  close(): void {
    this.closed = true;
  }
}

export class FakeIndexedDB {
  /** Databases by name: their version and object stores. */
  readonly databases = new Map<string, { version: number; stores: Map<string, Map<unknown, unknown>> }>();
  /** Every connection opened. */
  readonly connections: FakeDatabase[] = [];
  /** What the client's event handlers threw. */
  readonly thrown: unknown[] = [];
  /** Opening fires `blocked` and waits until `unblock()`, as while another tab holds an older
   *  version open. */
  blocked = false;
  /** Opening fails with this. */
  failOpen: DOMException | null = null;
  /** A read-write transaction's requests succeed, then it aborts with this instead of
   *  committing. */
  abortWrites: DOMException | null = null;
  /** Called after each open succeeded (its `success` handler ran), before the connection's
   *  transactions run. */
  afterOpen: (() => void) | null = null;
  private readonly waiting: (() => void)[] = [];

  open(name: string, version = 1): FakeRequest {
    const request = new FakeRequest();
    this.later(() => {
      if (this.failOpen !== null) {
        request.error = this.failOpen;
        this.fire(request, "onerror");
        return;
      }
      const proceed = () => {
        let db = this.databases.get(name);
        const upgrade = db === undefined || db.version < version;
        if (db === undefined) {
          db = { version, stores: new Map() };
          this.databases.set(name, db);
        }
        db.version = Math.max(db.version, version);
        const connection = new FakeDatabase(this, db.stores);
        this.connections.push(connection);
        request.result = connection;
        if (upgrade) this.fire(request, "onupgradeneeded");
        this.fire(request, "onsuccess");
        this.afterOpen?.();
      };
      if (this.blocked) {
        this.fire(request, "onblocked");
        this.waiting.push(proceed);
      } else {
        proceed();
      }
    });
    return request;
  }

  /** Lets the opens that were blocked go on. */
  unblock(): void {
    this.blocked = false;
    for (const proceed of this.waiting.splice(0)) this.later(proceed);
  }

  /** Another tab opens a newer version: each open connection gets `versionchange`. Answers how
   *  many are still open after their handlers ran (the newer version waits for them). */
  versionChange(): number {
    const open = this.connections.filter((c) => !c.closed);
    for (const c of open) this.fire(c, "onversionchange");
    return open.filter((c) => !c.closed).length;
  }

  /** Connections not closed. */
  openConnections(): number {
    return this.connections.filter((c) => !c.closed).length;
  }

  /** The value under `key` in `store` of database `name`. */
  value(name: string, store: string, key: unknown): unknown {
    return this.databases.get(name)?.stores.get(store)?.get(key);
  }

  later(task: () => void): void {
    setTimeout(task, 0);
  }

  fire(target: object, handler: string): void {
    const h = (target as Record<string, Handler>)[handler];
    try {
      h?.call(target, { target });
    } catch (e) {
      this.thrown.push(e);
    }
  }
}
