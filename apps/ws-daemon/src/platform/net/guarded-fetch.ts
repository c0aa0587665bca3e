import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { Readable } from "node:stream";
import { DomainError } from "../errors.js";
import {
  type CheckedAddress,
  type NetworkPolicy,
  NetworkPolicyError,
  type ResolveHost,
  resolveChecked,
} from "./network-policy.js";

export interface GuardedFetchOptions {
  policy: NetworkPolicy;
  /** Name resolution; default the system's (getaddrinfo, as every other client on the node). */
  resolve?: ResolveHost;
  /** Redirects followed per request, each hop checked like the first. Default 5. */
  maxRedirects?: number;
  /** Trusted CA certificates for https instead of Node's (tests; private mirrors). */
  ca?: string | Buffer;
}

/** A GET with the signature of `fetch` (the part the daemon uses). */
export type GuardedFetch = (url: string, init: { signal?: AbortSignal }) => Promise<Response>;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Statuses whose Response must not have a body. */
const NULL_BODY = new Set([101, 204, 205, 304]);
const DEFAULT_MAX_REDIRECTS = 5;
type ResponseBody = ConstructorParameters<typeof Response>[0];

/** Makes the connection go to the address that was checked, whatever DNS says by now. */
const pinnedTo =
  (target: CheckedAddress): LookupFunction =>
  (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };

const get = (
  url: URL,
  target: CheckedAddress,
  signal: AbortSignal | undefined,
  ca: string | Buffer | undefined,
): Promise<IncomingMessage> =>
  new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    // A fresh connection per request (agent: false): a pooled one may lead elsewhere. TLS still
    // verifies the certificate against the URL's host name; only the address is fixed.
    const req = send(
      url,
      {
        method: "GET",
        agent: false,
        lookup: pinnedTo(target),
        headers: { "user-agent": "ws-daemon", accept: "*/*" },
        ...(signal ? { signal } : {}),
        ...(ca !== undefined && url.protocol === "https:" ? { ca } : {}),
      },
      resolve,
    );
    req.on("error", reject);
    req.end();
  });

const toResponse = (res: IncomingMessage): Response => {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw new Error(`server answered HTTP ${status}`);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  if (NULL_BODY.has(status)) res.destroy();
  const body = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as unknown as ResponseBody);
  return new Response(body, { status, statusText: res.statusMessage ?? "", headers });
};

const shown = (url: URL): string => `${url.protocol}//${url.host}${url.pathname}`;

const nextUrl = (location: string, current: URL): URL => {
  try {
    return new URL(location, current);
  } catch {
    throw new DomainError(
      "failed-precondition",
      `${shown(current)} redirects to an invalid URL ${JSON.stringify(location.slice(0, 200))}`,
    );
  }
};

/**
 * `fetch` for URLs named by others: every hop, the first and each redirect, is resolved once,
 * checked against the network policy and connected to at exactly the checked address. Only http
 * and https; the body arrives as it was sent (no content decoding). Errors of the policy are
 * NetworkPolicyError (permission-denied); network failures are thrown as they come.
 */
export const guardedFetch =
  (options: GuardedFetchOptions): GuardedFetch =>
  async (url, init) => {
    const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    let current = new URL(url);
    for (let redirects = 0; ; redirects++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") {
        throw new NetworkPolicyError(
          `${redirects === 0 ? "" : "redirected to "}a ${current.protocol} URL: only http and https are fetched`,
        );
      }
      const target = await resolveChecked(current, options.policy, options.resolve).catch(
        (err: unknown) => {
          if (redirects === 0 || !(err instanceof NetworkPolicyError)) throw err;
          throw new NetworkPolicyError(`redirected to ${shown(current)}: ${err.message}`);
        },
      );
      const res = await get(current, target, init.signal, options.ca);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return toResponse(res);
      res.destroy();
      if (redirects >= maxRedirects) {
        throw new DomainError(
          "failed-precondition",
          `${shown(new URL(url))}: more than ${maxRedirects} redirects`,
        );
      }
      current = nextUrl(location, current);
    }
  };
