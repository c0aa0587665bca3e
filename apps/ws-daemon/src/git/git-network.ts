import { isIP } from "node:net";
import {
  errorMessage,
  type NetworkPolicy,
  NetworkPolicyError,
  type ResolveHost,
  resolveChecked,
  systemResolve,
} from "../platform/index.js";
import { GitError } from "./git-error.js";

/**
 * The daemon's address policy for git's own connections (issue 17), as far as git lets it:
 *
 * - every remote git is told about (origin, upstream, the first level of submodules) is resolved
 *   by the daemon once and each address checked against the policy before git starts;
 * - http(s): git is given the checked address (`http.curloptResolve`), so it does not resolve
 *   the name again (no DNS rebinding between check and connect), and follows no redirect;
 * - every other http(s) host git might try (a redirect, a nested submodule, a URL rewritten by
 *   the repository's configuration) goes to a proxy that does not exist and fails: only the
 *   checked hosts are exempt (`http.<scheme>://<host>/.proxy=...`, an exact host match), and
 *   they get the operator's proxy from the daemon's environment, if any, or none;
 * - ssh and git:// resolve and connect themselves: their host is checked, not pinned.
 *
 * Keys of a repository's configuration that could undo this for a URL (git applies the most
 * specific URL's value, whatever the command line says) are refused, see refusedNetworkKey.
 */

/** Never resolved (pinned to 0.0.0.0) and port 0, which nothing can listen on: fails at once. */
export const REFUSING_PROXY_HOST = "refused-by-ws-daemon-network-policy.invalid";
const REFUSING_PROXY = `http://${REFUSING_PROXY_HOST}:0`;

/**
 * The operator's proxy for a checked host, as git would have taken it from the environment
 * (https: https_proxy, else HTTPS_PROXY; http: http_proxy only, as curl), unless the host is in
 * no_proxy/NO_PROXY; "" = connect directly (to the pinned address).
 */
const operatorProxyFor = (
  scheme: string,
  host: string,
  env: Readonly<Record<string, string | undefined>>,
): string => {
  const proxy =
    scheme === "https" ? env.https_proxy || env.HTTPS_PROXY || "" : env.http_proxy || "";
  if (proxy === "") return "";
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? "").split(",").map((e) => e.trim());
  const lower = host.toLowerCase();
  const exempt = noProxy.some((entry) => {
    const domain = entry.replace(/^\./, "").toLowerCase();
    return entry === "*" || (domain !== "" && (lower === domain || lower.endsWith(`.${domain}`)));
  });
  return exempt ? "" : proxy;
};

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ssh: 22, git: 9418 };

/** Where git connects for a remote URI; undefined for local ones (file://, paths). */
export interface RemoteEndpoint {
  scheme: string;
  /** Host name or IP as written (IPv6 without brackets). */
  host: string;
  port: number;
  /** `scheme://host[:port]`, for http(s) only: the prefix git matches `http.<url>.*` with. */
  origin?: string;
}

/** `[user@]host:path`, git's scp-like ssh syntax. */
const SCP_LIKE = /^(?:[^@/]+@)?([A-Za-z0-9.-]+):/;

export const remoteEndpoint = (uri: string): RemoteEndpoint | undefined => {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const host = SCP_LIKE.exec(uri)?.[1];
    return host === undefined ? undefined : { scheme: "ssh", host, port: 22 };
  }
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined) return undefined;
  const url = new URL(uri);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? defaultPort : Number(url.port);
  const web = scheme === "http" || scheme === "https";
  return { scheme, host, port, ...(web ? { origin: `${scheme}://${url.host}` } : {}) };
};

export interface GitNetworkOptions {
  policy: NetworkPolicy;
  /** Default the system's resolver. */
  resolve?: ResolveHost;
  /**
   * Where the operator's proxy settings are read (http_proxy, https_proxy, HTTPS_PROXY,
   * no_proxy, NO_PROXY); default the daemon's environment. Through a proxy, the proxy resolves
   * the checked host's name again: the check still runs first, the pin does not hold.
   */
  environment?: Readonly<Record<string, string | undefined>>;
}

export class GitNetwork {
  private readonly resolve: ResolveHost;
  private readonly environment: Readonly<Record<string, string | undefined>>;

  constructor(private readonly options: GitNetworkOptions) {
    this.resolve = options.resolve ?? systemResolve;
    this.environment = options.environment ?? process.env;
  }

  /** Settings for every git command of an operation, before any remote is admitted. */
  baseConfig(): string[] {
    return [
      "http.followRedirects=false",
      // an empty value drops every earlier entry (e.g. the repository's own)
      "http.curloptResolve=",
      `http.proxy=${REFUSING_PROXY}`,
      `http.curloptResolve=${REFUSING_PROXY_HOST}:0:0.0.0.0`,
    ];
  }

  /**
   * Environment for every git command: the operator's no_proxy must not exempt unchecked hosts
   * from the refusing proxy (it is applied to the checked ones in admit()).
   */
  env(): Record<string, string> {
    return { NO_PROXY: "", no_proxy: "" };
  }

  /**
   * Checks where git would connect for `uri` and returns the settings that take git there and
   * nowhere else (`-c` values). Local remotes need none. Throws NetworkPolicyError.
   */
  async admit(uri: string, what: string): Promise<string[]> {
    const endpoint = remoteEndpoint(uri);
    if (endpoint === undefined) return [];
    const bracketed = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
    // resolveChecked takes the port from the URL: give it the one git will use
    const probe = new URL(`http://${bracketed}:${endpoint.port}/`);
    let checked: Awaited<ReturnType<typeof resolveChecked>>;
    try {
      checked = await resolveChecked(probe, this.options.policy, this.resolve);
    } catch (err) {
      if (err instanceof NetworkPolicyError) {
        throw new NetworkPolicyError(`${what} ${endpoint.scheme}://${bracketed}: ${err.message}`);
      }
      // as git would have reported it (a transient failure)
      throw new GitError(
        "other",
        `${what} ${endpoint.scheme}://${bracketed}: cannot resolve the host (${errorMessage(err)})`,
        `Could not resolve host: ${endpoint.host}`,
      );
    }
    if (endpoint.origin === undefined) return [];
    const address = checked.family === 6 ? `[${checked.address}]` : checked.address;
    return [
      // an IP is not resolved: nothing to pin
      ...(isIP(endpoint.host) === 0
        ? [`http.curloptResolve=${endpoint.host}:${endpoint.port}:${address}`]
        : []),
      `http.${endpoint.origin}/.proxy=${operatorProxyFor(endpoint.scheme, endpoint.host, this.environment)}`,
    ];
  }
}

/**
 * Keys of a repository's (or a submodule's) configuration that would take git's connections
 * around the policy: a URL-specific proxy, address or redirect setting wins over the daemon's
 * command-line one, and a remote's proxy over any http.proxy. Lower-case section and name.
 */
export const refusedNetworkKey = (key: string): boolean => {
  const lower = key.toLowerCase();
  if (/^remote\..+\.proxy$/s.test(lower)) return true;
  return /^http\..+\.(proxy|curloptresolve|followredirects)$/s.test(lower);
};
