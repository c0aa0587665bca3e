import { Readable } from "node:stream";
import type {
  GetOptions,
  LocalObjectFiles,
  ObjectStore,
  PutOptions,
} from "../../src/storage/object-store.js";

/** Forwards everything to `inner`; the fault stores below change one thing each. */
export class ForwardingStore implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}
  describe() {
    return `faulty(${this.inner.describe()})`;
  }
  put(key: string, body: Readable, options?: PutOptions) {
    return this.inner.put(key, body, options);
  }
  get(key: string, options?: GetOptions) {
    return this.inner.get(key, options);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
}

/**
 * Fails a put after `failAfter` body bytes, like a connection dying mid-upload. It has no local
 * files, so archives always go through put.
 */
export class FailingPutStore extends ForwardingStore {
  constructor(
    inner: ObjectStore,
    private readonly failAfter: number,
    private readonly match: (key: string) => boolean,
  ) {
    super(inner);
  }
  override put(key: string, body: Readable, options?: PutOptions) {
    if (!this.match(key)) return this.inner.put(key, body, options);
    let seen = 0;
    const failAfter = this.failAfter;
    async function* limited() {
      for await (const c of body) {
        seen += (c as Buffer).length;
        if (seen > failAfter) throw new Error("injected failure mid-upload");
        yield c as Buffer;
      }
    }
    return this.inner.put(key, Readable.from(limited()), options);
  }
}

/**
 * A store of local files whose archive data writers, once zstd wrote the whole archive, wait in
 * commit() until the test opens the gate. It records when each backup began (its first store call:
 * reading the previous manifest), so a test sees how many archives ran at once.
 */
export class CommitGate extends ForwardingStore {
  readonly files: LocalObjectFiles;
  /** Manifest keys of the backups that began, in order. */
  readonly began: string[] = [];
  /** The most backups that had begun and not committed their data at any moment. */
  mostAtOnce = 0;
  private committed = 0;
  private waiting = 0;
  private open = false;
  private readonly opened: Array<() => void> = [];
  private waitingFor: { count: number; reached: () => void } | undefined;

  constructor(inner: ObjectStore) {
    super(inner);
    const files = inner.files;
    if (!files) throw new Error("CommitGate needs a store of local files");
    this.files = {
      open: (key) => files.open(key),
      create: async (key) => {
        const writer = await files.create(key);
        return {
          file: writer.file,
          wrote: (bytes) => writer.wrote(bytes),
          abort: () => writer.abort(),
          commit: async () => {
            await this.pass();
            const stored = await writer.commit();
            this.committed++;
            return stored;
          },
        };
      },
    };
  }

  override get(key: string, options?: GetOptions) {
    if (key.endsWith("/manifest.json")) {
      this.began.push(key);
      this.mostAtOnce = Math.max(this.mostAtOnce, this.began.length - this.committed);
    }
    return this.inner.get(key, options);
  }

  /** Resolves once `count` archives wait in commit() at the same time. */
  holding(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.waitingFor = { count, reached: resolve };
      this.check();
    });
  }

  /** Lets every waiting and future commit through. */
  release(): void {
    this.open = true;
    for (const go of this.opened.splice(0)) go();
  }

  private async pass(): Promise<void> {
    if (this.open) return;
    this.waiting++;
    this.check();
    await new Promise<void>((resolve) => this.opened.push(resolve));
    this.waiting--;
  }

  private check(): void {
    if (this.waitingFor && this.waiting >= this.waitingFor.count) {
      this.waitingFor.reached();
      this.waitingFor = undefined;
    }
  }
}

/**
 * Calls `onStored` once an archive's data object is completely stored (its local file committed,
 * or its put finished), i.e. after the data and before the manifest: the last moment a caller's
 * abort can still be honoured.
 */
export class DataStoredHook extends ForwardingStore {
  readonly files?: LocalObjectFiles;

  constructor(
    inner: ObjectStore,
    private readonly onStored: (key: string) => void,
  ) {
    super(inner);
    const files = inner.files;
    if (!files) return;
    this.files = {
      open: (key) => files.open(key),
      create: async (key) => {
        const writer = await files.create(key);
        return {
          file: writer.file,
          wrote: (bytes) => writer.wrote(bytes),
          abort: () => writer.abort(),
          commit: async () => {
            const stored = await writer.commit();
            onStored(key);
            return stored;
          },
        };
      },
    };
  }

  override async put(key: string, body: Readable, options?: PutOptions) {
    const stored = await this.inner.put(key, body, options);
    if (!key.endsWith("/manifest.json")) this.onStored(key);
    return stored;
  }
}

/**
 * Holds the put of the first key that `match` accepts until release(): a writer stopped at that
 * point of its commit protocol (e.g. about to store its index) while a test moves others on.
 * It has no local files, so every object goes through put.
 */
export class HeldPutStore extends ForwardingStore {
  /** Resolves with the key once a matching put is being held. */
  readonly reached: Promise<string>;
  private arrived: (key: string) => void = () => {};
  private released = false;
  private go: () => void = () => {};
  private readonly gate: Promise<void>;

  constructor(
    inner: ObjectStore,
    private readonly match: (key: string) => boolean,
  ) {
    super(inner);
    this.reached = new Promise((resolve) => {
      this.arrived = resolve;
    });
    this.gate = new Promise((resolve) => {
      this.go = resolve;
    });
  }

  release(): void {
    this.released = true;
    this.go();
  }

  override async put(key: string, body: Readable, options?: PutOptions) {
    if (!this.released && this.match(key)) {
      this.arrived(key);
      await this.gate;
    }
    return this.inner.put(key, body, options);
  }
}

/**
 * A store that accepts reads of matching keys and never answers them (a server that keeps the
 * connection open and sends nothing), deaf to the caller's abort. It has no local files, so every
 * read goes through get.
 */
export class StalledGetStore extends ForwardingStore {
  /** Keys whose read was stalled. */
  readonly stalled: string[] = [];

  constructor(
    inner: ObjectStore,
    private readonly match: (key: string) => boolean,
  ) {
    super(inner);
  }

  override get(key: string, options?: GetOptions) {
    if (!this.match(key)) return this.inner.get(key, options);
    this.stalled.push(key);
    return new Promise<never>(() => {});
  }
}
