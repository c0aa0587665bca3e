import type * as http2 from "node:http2";
import { isMap, isSet } from "node:util/types";
import { StreamIdTable } from "./stream-id-table.js";

/**
 * Node's HTTP/2 session keeps its streams in a Map (by id) and its not yet started streams in a
 * Set, both in the session's internal state; every call adds to and removes from both. See
 * StreamIdTable for why that churn kept every stream of a busy connection alive until the next
 * full collection. This swaps them for registries without rehash chains: the stream table, and
 * for the pending streams (rarely more than one, for a few microseconds) a plain array.
 *
 * Node 20 and 22 call only get, set, delete, size and forEach on them, as methods of the
 * object. When the session does not look as expected (another Node version), nothing is
 * changed and false is returned: the server works as before, with the old cost.
 */
export function useChurnFreeStreamRegistries(session: http2.Http2Session): boolean {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === "state");
  if (key === undefined) return false;
  const state = (session as unknown as Record<symbol, unknown>)[key];
  if (typeof state !== "object" || state === null) return false;
  const registries = state as { streams?: unknown; pendingStreams?: unknown };
  const { streams, pendingStreams } = registries;
  // Node's own Map and Set subclasses (SafeMap, SafeSet) are not instances of this realm's
  if (!isMap(streams) || !isSet(pendingStreams)) return false;
  // streams may already exist: the session reads what the socket had buffered when it starts
  const table = new StreamIdTable<unknown>();
  for (const [id, stream] of streams as Map<unknown, unknown>) {
    if (typeof id !== "number") return false;
    table.set(id, stream);
  }
  const pending = new PendingStreams();
  for (const stream of pendingStreams as Set<unknown>) pending.add(stream);
  registries.streams = table;
  registries.pendingStreams = pending;
  return true;
}

/**
 * A set for a handful of members at most: the first `count` slots of an array that only grows
 * (members are added and removed on every call; nothing is allocated for that).
 */
class PendingStreams {
  private members: unknown[] = new Array<unknown>(4).fill(undefined);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(member: unknown): boolean {
    return this.indexOf(member) !== -1;
  }

  add(member: unknown): this {
    if (this.has(member)) return this;
    if (this.count === this.members.length) {
      this.members = [...this.members, ...new Array<unknown>(this.count).fill(undefined)];
    }
    this.members[this.count++] = member;
    return this;
  }

  delete(member: unknown): boolean {
    const at = this.indexOf(member);
    if (at === -1) return false;
    this.count--;
    this.members[at] = this.members[this.count];
    this.members[this.count] = undefined;
    return true;
  }

  clear(): void {
    this.members.fill(undefined);
    this.count = 0;
  }

  forEach(callback: (member: unknown, same: unknown, set: this) => void): void {
    // a copy: Node destroys each member from inside the callback, which deletes it
    for (const member of this.snapshot()) {
      if (this.has(member)) callback(member, member, this);
    }
  }

  values(): IterableIterator<unknown> {
    return this.snapshot()[Symbol.iterator]();
  }

  keys(): IterableIterator<unknown> {
    return this.values();
  }

  [Symbol.iterator](): IterableIterator<unknown> {
    return this.values();
  }

  private snapshot(): unknown[] {
    return this.members.slice(0, this.count);
  }

  private indexOf(member: unknown): number {
    for (let i = this.count - 1; i >= 0; i--) if (this.members[i] === member) return i;
    return -1;
  }
}
