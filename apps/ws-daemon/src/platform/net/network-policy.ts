import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { DomainError } from "../errors.js";
import { type AddressClass, classifyAddress } from "./address-class.js";

/**
 * Which addresses the daemon's outgoing connections to hosts named by others (download servers
 * and their redirects; later git remotes) may reach. The daemon runs as root on a node shared by
 * many tenants: a URL that leads to 127.0.0.1, the node's private network or the cloud metadata
 * service would let a caller or a download server read what only the node should see.
 */
export interface NetworkPolicy {
  /** Why connecting to `address` (an IP) on `port` is refused; undefined when it is allowed. */
  refusal(address: string, port: number): string | undefined;
}

export interface NetworkPolicyOptions {
  /**
   * Also allow loopback, private, link-local, unique-local and reserved addresses (test setups,
   * mirrors inside the cluster). Metadata, unspecified and multicast addresses stay refused:
   * nothing legitimate is downloaded from them.
   */
  allowPrivateNetworks: boolean;
}

const NEVER: ReadonlySet<AddressClass> = new Set(["metadata", "unspecified", "multicast"]);

/** The policy of the configuration key `downloads.allowPrivateNetworks`. */
export const networkPolicy = (options: NetworkPolicyOptions): NetworkPolicy => ({
  refusal(address) {
    const kind = classifyAddress(address);
    if (kind === "public") return undefined;
    if (NEVER.has(kind) || !options.allowPrivateNetworks) {
      return `${address} is a ${kind} address, which the network policy refuses`;
    }
    return undefined;
  },
});

/** A connection target whose address passed the policy. */
export interface CheckedAddress {
  address: string;
  family: 4 | 6;
  port: number;
}

/** Name resolution, injectable for tests (e.g. DNS answers that change between two calls). */
export type ResolveHost = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolve: ResolveHost = (hostname) =>
  dnsLookup(hostname, { all: true, verbatim: true });

/** A host the network policy does not let the daemon connect to. */
export class NetworkPolicyError extends DomainError {
  override name = "NetworkPolicyError";
  constructor(message: string) {
    super("permission-denied", message);
  }
}

const defaultPort = (url: URL): number => {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
};

/**
 * Resolves the URL's host once and checks every address it resolves to (one refused address
 * refuses the host: its owner chose to point it there). The caller must connect to the returned
 * address, not resolve the name again, or a DNS answer that changes between check and connect
 * (rebinding) would get around the check.
 */
export const resolveChecked = async (
  url: URL,
  policy: NetworkPolicy,
  resolve: ResolveHost = systemResolve,
): Promise<CheckedAddress> => {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = defaultPort(url);
  const literal = isIP(host);
  const answers = literal !== 0 ? [{ address: host, family: literal }] : await resolve(host);
  const first = answers[0];
  if (!first) throw new NetworkPolicyError(`${url.host} resolves to no address`);
  for (const { address } of answers) {
    const why = policy.refusal(address, port);
    if (why !== undefined) {
      throw new NetworkPolicyError(literal !== 0 ? why : `${url.hostname} resolves to ${why}`);
    }
  }
  return { address: first.address, family: first.family === 6 ? 6 : 4, port };
};
