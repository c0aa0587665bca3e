import { describeFailure, namespaceInode, type RunResult } from "../platform/index.js";
import { failedPrecondition, invalidArgument, LinuxOpError } from "./errors.js";
import { type NsHelper, PEER_NETNS_PATH } from "./ns-helper.js";

export interface VethConfig {
  /** The container's interface whose MTU is copied and through which traffic leaves. */
  containerInterface: string;
  /** Name of the veth end that stays in the container's network namespace. */
  hostSide: string;
  /** Name of the veth end moved into the target pid's network namespace. */
  peerSide: string;
  /** IPv4 network for the pair; first host address on the container side, second on the peer. */
  cidr: string;
  /** nftables table (family ip) holding the NAT rules, in the container's namespace. */
  nftTable: string;
  /** Forward inbound TCP on the container interface to the peer (upstream behaviour). */
  forwardInboundTcp: boolean;
}

export const defaultVethConfig: VethConfig = {
  containerInterface: "eth0",
  hostSide: "veth0",
  peerSide: "eth0",
  cidr: "10.0.5.0/30",
  nftTable: "ws_daemon_nat",
  forwardInboundTcp: true,
};

export interface VethAddresses {
  network: string;
  prefix: number;
  hostSideIp: string;
  peerSideIp: string;
}

const ipToInt = (ip: string) => ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");

export function vethAddresses(cidr: string): VethAddresses {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255))
    throw invalidArgument(`${cidr} is not an IPv4 CIDR`);
  const prefix = Number(m[5]);
  if (prefix > 30)
    throw invalidArgument(`${cidr} is too small for two host addresses (needs /30 or larger)`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToInt(m.slice(1, 5).join(".")) / size) * size;
  return {
    network: intToIp(network),
    prefix,
    hostSideIp: intToIp(network + 1),
    peerSideIp: intToIp(network + 2),
  };
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  link_index?: number;
}

/**
 * Connects the target pid's network namespace to the workspace container's with a veth pair,
 * gives both ends addresses from `cidr`, routes the target's default via the container side,
 * and NATs it out of the container's interface, so the inner namespace reaches what the
 * container reaches. Repeating the call for the same pair re-applies the configuration
 * (idempotent); a name already taken by something else is ALREADY_EXISTS.
 *
 * Every command runs through the namespace helper's net-exec, so a pinned helper (see
 * NsHelper.pinnedTo) makes each one act on the checked processes' namespaces only; the peer end
 * moves into the target's namespace by an fd the helper opened, never by its pid number.
 */
export class VethPair {
  constructor(private readonly config: VethConfig = defaultVethConfig) {
    for (const n of [config.containerInterface, config.hostSide, config.peerSide]) {
      if (!IFNAME.test(n))
        throw invalidArgument(`${JSON.stringify(n)} is not a valid interface name`);
    }
    if (!/^[A-Za-z0-9_]{1,64}$/.test(config.nftTable))
      throw invalidArgument("invalid nftables table name");
  }

  async setup(helper: NsHelper, containerPid: number, targetPid: number): Promise<VethAddresses> {
    const c = this.config;
    const ns = new NetNamespaces(helper);
    const addr = vethAddresses(c.cidr);
    if ((await netnsInode(containerPid)) === (await netnsInode(targetPid))) {
      throw failedPrecondition("the target process shares the container's network namespace");
    }
    const main = await ns.link(containerPid, c.containerInterface);
    if (!main) throw failedPrecondition(`container has no interface ${c.containerInterface}`);
    const existing = await ns.link(containerPid, c.hostSide);
    if (existing) {
      const peer = await ns.link(targetPid, c.peerSide);
      const samePair =
        peer && existing.link_index === peer.ifindex && peer.link_index === existing.ifindex;
      if (!samePair) {
        throw new LinuxOpError(
          "already-exists",
          `interface ${c.hostSide} already exists and is not paired with the target`,
        );
      }
    } else {
      await ns.ip(
        containerPid,
        [
          "link",
          "add",
          c.hostSide,
          "mtu",
          String(main.mtu),
          "type",
          "veth",
          "peer",
          "name",
          c.peerSide,
          "mtu",
          String(main.mtu),
          "netns",
          PEER_NETNS_PATH,
        ],
        targetPid,
      );
    }
    const cidrOf = (ip: string) => `${ip}/${addr.prefix}`;
    await ns.ip(containerPid, ["addr", "replace", cidrOf(addr.hostSideIp), "dev", c.hostSide]);
    await ns.ip(containerPid, ["link", "set", c.hostSide, "up"]);
    await ns.ip(targetPid, ["addr", "replace", cidrOf(addr.peerSideIp), "dev", c.peerSide]);
    await ns.ip(targetPid, ["link", "set", c.peerSide, "up"]);
    await ns.ip(targetPid, ["link", "set", "lo", "up"]);
    await ns.ip(targetPid, ["route", "replace", "default", "via", addr.hostSideIp]);
    await helper.sysctlNet(containerPid, "ipv4/ip_forward", "1");
    await ns.nft(containerPid, this.ruleset(addr));
    return addr;
  }

  /** Removes the pair (deleting one end deletes both) and the NAT table; absent parts are fine. */
  async teardown(helper: NsHelper, containerPid: number): Promise<void> {
    const ns = new NetNamespaces(helper);
    if (await ns.link(containerPid, this.config.hostSide)) {
      await ns.ip(containerPid, ["link", "del", this.config.hostSide]);
    }
    const res = await helper.netExec(containerPid, "nft", [
      "list",
      "table",
      "ip",
      this.config.nftTable,
    ]);
    if (res.exitCode === 0) await ns.nft(containerPid, `delete table ip ${this.config.nftTable}\n`);
  }

  private ruleset(addr: VethAddresses): string {
    const c = this.config;
    const t = c.nftTable;
    // declare-then-delete makes the script replace an earlier version atomically (one transaction)
    const lines = [
      `table ip ${t}`,
      `delete table ip ${t}`,
      `table ip ${t} {`,
      "  chain postrouting {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    ip saddr ${addr.network}/${addr.prefix} oifname "${c.containerInterface}" masquerade`,
      "  }",
      "  chain prerouting {",
      "    type nat hook prerouting priority dstnat; policy accept;",
      c.forwardInboundTcp
        ? `    iifname "${c.containerInterface}" meta l4proto tcp dnat to ${addr.peerSideIp}`
        : "",
      "  }",
      "}",
    ];
    return `${lines.filter((l) => l !== "").join("\n")}\n`;
  }
}

/** `ip` and `nft` in a process's network namespace, through the (pinned) helper. */
class NetNamespaces {
  constructor(private readonly helper: NsHelper) {}

  async link(pid: number, name: string): Promise<IpLink | undefined> {
    const res = await this.helper.netExec(pid, "ip", ["-j", "link", "show", "dev", name]);
    if (res.exitCode !== 0) return undefined;
    const links = JSON.parse(res.stdout || "[]") as IpLink[];
    return links[0];
  }

  /**
   * Fails as already-exists when the kernel says so (a name taken), otherwise as internal.
   * `peer`: the process whose network namespace the command names as PEER_NETNS_PATH.
   */
  async ip(pid: number, args: string[], peer?: number): Promise<void> {
    const res = await this.helper.netExec(pid, "ip", args, peer === undefined ? {} : { peer });
    if (res.exitCode !== 0 || res.signal) {
      const kind = /File exists/.test(res.stderr) ? "already-exists" : "internal";
      throw new LinuxOpError(kind, describeFailure("ip", args, res));
    }
  }

  async nft(pid: number, script: string): Promise<void> {
    const res: RunResult = await this.helper.netExec(pid, "nft", ["-f", "-"], { stdin: script });
    if (res.exitCode !== 0 || res.signal) {
      throw new LinuxOpError("internal", describeFailure("nft", ["-f", "-"], res));
    }
  }
}

async function netnsInode(pid: number): Promise<number> {
  const ino = await namespaceInode(pid, "net");
  if (ino === undefined) throw failedPrecondition(`process ${pid} is gone`);
  return ino;
}
