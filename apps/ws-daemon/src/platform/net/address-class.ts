import { isIPv4, isIPv6 } from "node:net";

/**
 * What kind of network an IP address belongs to, as far as the daemon's outgoing connections
 * care. Everything that is not a globally routed unicast address gets a class of its own; what
 * matches no known range of the special-purpose registries is "public".
 */
export type AddressClass =
  | "public"
  | "loopback"
  /** RFC 1918, CGNAT (100.64/10), IPv6 site-local, local NAT64. */
  | "private"
  | "link-local"
  /** IPv6 fc00::/7. */
  | "unique-local"
  /** Cloud instance metadata services (169.254.169.254, fd00:ec2::254): credentials live there. */
  | "metadata"
  /** 0.0.0.0/8 and ::; connecting to them reaches the local host. */
  | "unspecified"
  | "multicast"
  /** Not routed on the internet: documentation, benchmarking, future use, broadcast, ... */
  | "reserved";

interface Range {
  /** The first address as bytes (4 or 16). */
  base: Uint8Array;
  bits: number;
  kind: AddressClass;
}

const v4 = (text: string): Uint8Array => Uint8Array.from(text.split(".").map(Number));

/** 8 groups of 16 bits, `::` expanded, a trailing dotted IPv4 accepted. Input is valid IPv6. */
const v6 = (text: string): Uint8Array => {
  let groups: string[];
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let head = text;
  const extra: string[] = [];
  if (tailV4?.[1]) {
    const b = v4(tailV4[1]);
    extra.push((((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16));
    extra.push((((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16));
    head = text.slice(0, text.length - tailV4[1].length);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const [left = "", right] = head.split("::");
  const leftGroups = left === "" ? [] : left.split(":");
  if (right === undefined) {
    groups = [...leftGroups, ...extra];
  } else {
    const rightGroups = [...(right === "" ? [] : right.split(":")), ...extra];
    const missing = 8 - leftGroups.length - rightGroups.length;
    groups = [...leftGroups, ...Array<string>(missing).fill("0"), ...rightGroups];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  return bytes;
};

const range = (cidr: string, kind: AddressClass): Range => {
  const [address = "", bits = ""] = cidr.split("/");
  return { base: isIPv4(address) ? v4(address) : v6(address), bits: Number(bits), kind };
};

const inRange = (bytes: Uint8Array, r: Range): boolean => {
  if (bytes.length !== r.base.length) return false;
  for (let bit = 0; bit < r.bits; bit += 8) {
    const take = Math.min(8, r.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    const i = bit / 8;
    if (((bytes[i] ?? 0) & mask) !== ((r.base[i] ?? 0) & mask)) return false;
  }
  return true;
};

/** Most specific first: the first match wins. */
const V4_RANGES: readonly Range[] = [
  range("169.254.169.254/32", "metadata"),
  range("0.0.0.0/8", "unspecified"),
  range("127.0.0.0/8", "loopback"),
  range("10.0.0.0/8", "private"),
  range("172.16.0.0/12", "private"),
  range("192.168.0.0/16", "private"),
  range("100.64.0.0/10", "private"),
  range("169.254.0.0/16", "link-local"),
  range("224.0.0.0/4", "multicast"),
  range("192.0.0.0/24", "reserved"),
  range("192.0.2.0/24", "reserved"),
  range("198.18.0.0/15", "reserved"),
  range("198.51.100.0/24", "reserved"),
  range("203.0.113.0/24", "reserved"),
  range("240.0.0.0/4", "reserved"),
];

const V6_RANGES: readonly Range[] = [
  range("fd00:ec2::254/128", "metadata"),
  range("::/128", "unspecified"),
  range("::1/128", "loopback"),
  range("64:ff9b:1::/48", "private"),
  range("fec0::/10", "private"),
  range("fc00::/7", "unique-local"),
  range("fe80::/10", "link-local"),
  range("ff00::/8", "multicast"),
  range("100::/64", "reserved"),
  range("2001::/32", "reserved"),
  range("2001:db8::/32", "reserved"),
  range("2001:10::/28", "reserved"),
  range("2001:20::/28", "reserved"),
  range("3fff::/20", "reserved"),
];

/** Global unicast is 2000::/3; anything else not listed above is not routed on the internet. */
const GLOBAL_UNICAST = range("2000::/3", "public");

/** IPv6 forms that carry an IPv4 address: the embedded address decides. */
const EMBEDDED_V4: readonly { prefix: Range; offset: number }[] = [
  { prefix: range("::ffff:0:0/96", "public"), offset: 12 },
  { prefix: range("::/96", "public"), offset: 12 },
  { prefix: range("64:ff9b::/96", "public"), offset: 12 },
  { prefix: range("2002::/16", "public"), offset: 2 },
];

const classifyV4 = (bytes: Uint8Array): AddressClass =>
  V4_RANGES.find((r) => inRange(bytes, r))?.kind ?? "public";

const classifyV6 = (bytes: Uint8Array): AddressClass => {
  // ::1 and :: lie inside ::/96 but are IPv6's own loopback and unspecified.
  const own = V6_RANGES.find((r) => r.bits === 128 && inRange(bytes, r));
  if (own) return own.kind;
  for (const { prefix, offset } of EMBEDDED_V4) {
    if (inRange(bytes, prefix)) return classifyV4(bytes.subarray(offset, offset + 4));
  }
  const listed = V6_RANGES.find((r) => inRange(bytes, r));
  if (listed) return listed.kind;
  return inRange(bytes, GLOBAL_UNICAST) ? "public" : "reserved";
};

/** The class of an IP address (IPv4 dotted or IPv6 text, brackets allowed); not an IP throws. */
export const classifyAddress = (address: string): AddressClass => {
  const unbracketed =
    address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  // A zone (fe80::1%eth0) names an interface, not a different address.
  const bare = unbracketed.split("%")[0] ?? "";
  if (isIPv4(bare)) return classifyV4(v4(bare));
  if (isIPv6(bare)) return classifyV6(v6(bare.toLowerCase()));
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
};
