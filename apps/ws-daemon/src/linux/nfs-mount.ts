import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { invalidArgument } from "./errors.js";
import type { NsHelper } from "./ns-helper.js";
import { type ResolvedTarget, resolveTargetPath } from "./target-path.js";

export interface NfsSource {
  host: string;
  /** Set when host is an IP literal or after name resolution: the kernel client needs addr=. */
  address?: string;
  path: string;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const EXPORT_PATH = /^\/[A-Za-z0-9._\-/+@=~]*$/;

/** Accepts `host:/export/path` with host an IPv4 address, `[IPv6]` or a DNS name. */
export function parseNfsSource(source: string): NfsSource {
  const m = /^(\[[^\]]+\]|[^:/[\]]+):(\/.*)$/.exec(source);
  if (!m)
    throw invalidArgument(`NFS source ${JSON.stringify(source)} is not of the form host:/path`);
  const rawHost = m[1] as string;
  const path = m[2] as string;
  if (!EXPORT_PATH.test(path) || path.split("/").includes("..")) {
    throw invalidArgument(
      `NFS export path ${JSON.stringify(path)} has forbidden characters or ".."`,
    );
  }
  if (rawHost.startsWith("[")) {
    const v6 = rawHost.slice(1, -1);
    if (isIP(v6) !== 6) throw invalidArgument(`NFS host ${rawHost} is not an IPv6 address`);
    return { host: rawHost, address: v6, path };
  }
  if (isIP(rawHost) === 4) return { host: rawHost, address: rawHost, path };
  if (!HOSTNAME.test(rawHost))
    throw invalidArgument(`NFS host ${JSON.stringify(rawHost)} is not a valid host name`);
  return { host: rawHost, path };
}

const FLAG_OPTIONS = new Set([
  "ro",
  "rw",
  "hard",
  "soft",
  "nolock",
  "noac",
  "noatime",
  "nodiratime",
  "relatime",
  "noresvport",
  "nosharecache",
  "intr",
  "nointr",
  "cto",
  "nocto",
  "tcp",
  "udp",
]);
const VALUED_OPTIONS: Record<string, RegExp> = {
  vers: /^(3|4|4\.0|4\.1|4\.2)$/,
  nfsvers: /^(3|4|4\.0|4\.1|4\.2)$/,
  minorversion: /^[0-2]$/,
  proto: /^(tcp|tcp6|udp|udp6|rdma)$/,
  port: /^\d{1,5}$/,
  timeo: /^\d{1,6}$/,
  retrans: /^\d{1,3}$/,
  rsize: /^\d{1,8}$/,
  wsize: /^\d{1,8}$/,
  actimeo: /^\d{1,6}$/,
  acregmin: /^\d{1,6}$/,
  acregmax: /^\d{1,6}$/,
  acdirmin: /^\d{1,6}$/,
  acdirmax: /^\d{1,6}$/,
  sec: /^(sys|none|krb5|krb5i|krb5p)$/,
  lookupcache: /^(all|none|pos|positive)$/,
  local_lock: /^(all|flock|posix|none)$/,
};

/**
 * Keeps only allow-listed NFS options (a workspace must not pass e.g. `clientaddr=`, `fsc` or a
 * foreign `addr=`); anything else is INVALID_ARGUMENT rather than silently dropped.
 */
export function parseNfsOptions(args: string): string[] {
  const out: string[] = [];
  for (const raw of args.split(",")) {
    const opt = raw.trim();
    if (opt === "") continue;
    const eq = opt.indexOf("=");
    if (eq < 0) {
      if (!FLAG_OPTIONS.has(opt))
        throw invalidArgument(`NFS option ${JSON.stringify(opt)} is not allowed`);
      out.push(opt);
      continue;
    }
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1);
    const pattern = VALUED_OPTIONS[key];
    if (!pattern) throw invalidArgument(`NFS option ${JSON.stringify(key)} is not allowed`);
    if (!pattern.test(value))
      throw invalidArgument(`NFS option ${key} has an invalid value ${JSON.stringify(value)}`);
    out.push(`${key}=${value}`);
  }
  return out;
}

export interface NfsMountRequest {
  source: string;
  target: string;
  args: string;
}

/**
 * Mounts NFS at `target` in the pid's mount namespace; the kernel client talks from the pid's
 * network namespace. Host names are resolved by the daemon (the kernel client needs addr=).
 * On a kernel without NFS the helper's mount(2) fails with ENODEV "No such device".
 */
export async function mountNfs(
  helper: NsHelper,
  hostPid: number,
  req: NfsMountRequest,
  resolveHost: (host: string) => Promise<string> = async (h) => (await lookup(h)).address,
): Promise<ResolvedTarget> {
  const source = parseNfsSource(req.source);
  const options = parseNfsOptions(req.args);
  const resolved = await resolveTargetPath(hostPid, req.target);
  const address = source.address ?? (await resolveHost(source.host));
  const version =
    options.find((o) => o.startsWith("vers=") || o.startsWith("nfsvers="))?.split("=")[1] ?? "4";
  const fstype = version.startsWith("4") ? "nfs4" : "nfs";
  const data = [...options, `addr=${address}`].join(",");
  await helper.mountNfs(
    hostPid,
    resolved.inNamespace,
    `${source.host}:${source.path}`,
    fstype,
    data,
  );
  return resolved;
}
