import type * as http2 from "node:http2";

/** RFC 9110 token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value may not hold NUL, CR or LF (after its surrounding whitespace is cut). */
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;
const SURROUNDING_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const SET_COOKIE = "set-cookie";

type EntryIterator = ReturnType<Headers["entries"]>;
type NameIterator = ReturnType<Headers["keys"]>;

function checkedName(name: string): string {
  if (!HEADER_NAME.test(name)) throw new TypeError(`invalid header name: ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

function checkedValue(value: string): string {
  const v = String(value).replace(SURROUNDING_WHITESPACE, "");
  if (FORBIDDEN_IN_VALUE.test(v)) throw new TypeError(`invalid header value: ${JSON.stringify(v)}`);
  return v;
}

/**
 * The Fetch API's Headers for one unary call on the gRPC path, with its behaviour (names
 * case-insensitive and checked, values trimmed and checked, repeated values joined with ", ",
 * Set-Cookie kept apart, iteration sorted by name), at a fraction of the cost: Node's Headers
 * (undici) loads through a global getter and builds sorted lists, and a call made three of them.
 * Request headers are read straight from the HTTP/2 header object until something changes them.
 */
export class CallHeaders implements Headers {
  private byName: Map<string, string> | undefined;
  private cookies: string[] | undefined;

  /** `incoming`: the HTTP/2 request headers; pseudo-headers (":path") are left out. */
  constructor(private incoming?: http2.IncomingHttpHeaders) {}

  get(name: string): string | null {
    const key = checkedName(name);
    if (this.incoming !== undefined) return incomingValue(this.incoming, key);
    if (key === SET_COOKIE) return this.cookies ? this.cookies.join(", ") : null;
    return this.byName?.get(key) ?? null;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  getSetCookie(): string[] {
    this.own();
    return this.cookies ? [...this.cookies] : [];
  }

  set(name: string, value: string): void {
    const key = checkedName(name);
    const v = checkedValue(value);
    const values = this.own();
    if (key === SET_COOKIE) this.cookies = [v];
    else values.set(key, v);
  }

  append(name: string, value: string): void {
    const key = checkedName(name);
    const v = checkedValue(value);
    const values = this.own();
    if (key === SET_COOKIE) {
      this.cookies ??= [];
      this.cookies.push(v);
      return;
    }
    const before = values.get(key);
    values.set(key, before === undefined ? v : `${before}, ${v}`);
  }

  delete(name: string): void {
    const key = checkedName(name);
    const values = this.own();
    if (key === SET_COOKIE) this.cookies = undefined;
    else values.delete(key);
  }

  forEach(
    callback: (value: string, key: string, parent: Headers) => void,
    thisArg?: unknown,
  ): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  entries(): EntryIterator {
    return this.list()[Symbol.iterator]();
  }

  keys(): NameIterator {
    return this.list()
      .map(([key]) => key)
      [Symbol.iterator]();
  }

  values(): NameIterator {
    return this.list()
      .map(([, value]) => value)
      [Symbol.iterator]();
  }

  [Symbol.iterator](): EntryIterator {
    return this.entries();
  }

  /**
   * Adds these headers to an HTTP/2 header block (Set-Cookie as a list); nothing is sorted or
   * copied when there are none.
   */
  writeTo(target: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
    if (this.incoming !== undefined) this.own();
    if (this.byName !== undefined) for (const [key, value] of this.byName) target[key] = value;
    if (this.cookies !== undefined) target[SET_COOKIE] = [...this.cookies];
    return target;
  }

  /** Makes the headers this object's own (copied from the request's) before a change. */
  private own(): Map<string, string> {
    if (this.byName !== undefined) return this.byName;
    const values = new Map<string, string>();
    const incoming = this.incoming;
    this.incoming = undefined;
    this.byName = values;
    if (incoming === undefined) return values;
    for (const key in incoming) {
      if (key.charCodeAt(0) === 58 /* ":" */) continue;
      const value = incoming[key];
      if (value === undefined) continue;
      if (key === SET_COOKIE) this.cookies = Array.isArray(value) ? [...value] : [String(value)];
      else values.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    return values;
  }

  /** Every header sorted by name, each Set-Cookie on its own, as Headers iterates. */
  private list(): [string, string][] {
    const values = this.own();
    const list: [string, string][] = [...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (this.cookies !== undefined) {
      const at = list.findIndex(([key]) => key > SET_COOKIE);
      const cookies = this.cookies.map((c): [string, string] => [SET_COOKIE, c]);
      list.splice(at === -1 ? list.length : at, 0, ...cookies);
    }
    return list;
  }
}

function incomingValue(incoming: http2.IncomingHttpHeaders, key: string): string | null {
  const value = incoming[key];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
