import { describe, expect, it } from "vitest";
import { type AddressClass, classifyAddress, networkPolicy } from "../../src/platform/index.js";

const table: [string, AddressClass][] = [
  ["8.8.8.8", "public"],
  ["1.1.1.1", "public"],
  ["172.15.255.255", "public"],
  ["172.32.0.0", "public"],
  ["100.63.255.255", "public"],
  ["100.128.0.0", "public"],
  ["169.253.255.255", "public"],
  ["223.255.255.255", "public"],
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.168.1.1", "private"],
  ["100.64.0.1", "private"],
  ["100.100.100.200", "private"],
  ["169.254.169.254", "metadata"],
  ["169.254.169.253", "link-local"],
  ["169.254.0.1", "link-local"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["255.255.255.255", "reserved"],
  ["240.0.0.1", "reserved"],
  ["192.0.2.1", "reserved"],
  ["198.18.0.1", "reserved"],
  ["198.51.100.7", "reserved"],
  ["203.0.113.9", "reserved"],
  ["192.0.0.170", "reserved"],
  ["2606:4700:4700::1111", "public"],
  ["2a00:1450:4001:80b::200e", "public"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["::ffff:169.254.169.254", "metadata"],
  ["::ffff:10.1.2.3", "private"],
  ["::ffff:8.8.8.8", "public"],
  ["::127.0.0.1", "loopback"],
  ["64:ff9b::a9fe:a9fe", "metadata"],
  ["64:ff9b::8.8.8.8", "public"],
  ["64:ff9b:1::1", "private"],
  ["2002:7f00:1::", "loopback"],
  ["2002:0808:0808::1", "public"],
  ["fd00:ec2::254", "metadata"],
  ["FD00:EC2::254", "metadata"],
  ["fd00:ec2::253", "unique-local"],
  ["fc00::1", "unique-local"],
  ["fdff:ffff::1", "unique-local"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["febf::1", "link-local"],
  ["fec0::1", "private"],
  ["ff02::1", "multicast"],
  ["2001:db8::1", "reserved"],
  ["2001::1", "reserved"],
  ["2001:10::1", "reserved"],
  ["100::1", "reserved"],
  ["4000::1", "reserved"],
  ["::2", "unspecified"],
];

describe("classifyAddress", () => {
  it.each(table)("%s is %s", (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it("refuses what is not an IP address", () => {
    for (const bad of ["localhost", "", "1.2.3", "01.2.3.4", "::g", "[::1"]) {
      expect(() => classifyAddress(bad)).toThrow(TypeError);
    }
  });
});

describe("networkPolicy", () => {
  const strict = networkPolicy({ allowPrivateNetworks: false });
  const relaxed = networkPolicy({ allowPrivateNetworks: true });

  it("by default allows only public addresses, naming the class it refuses", () => {
    expect(strict.refusal("8.8.8.8", 443)).toBeUndefined();
    expect(strict.refusal("2606:4700:4700::1111", 443)).toBeUndefined();
    for (const [address, kind] of table.filter(([, k]) => k !== "public")) {
      expect(strict.refusal(address, 80)).toContain(`${kind} address`);
    }
  });

  it("allowPrivateNetworks lets loopback and private networks through, never metadata", () => {
    for (const address of ["127.0.0.1", "::1", "10.0.0.1", "fd12::1", "fe80::1", "198.51.100.7"]) {
      expect(relaxed.refusal(address, 80)).toBeUndefined();
    }
    for (const address of ["169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::", "224.0.0.1"]) {
      expect(relaxed.refusal(address, 80)).toBeDefined();
    }
  });
});
