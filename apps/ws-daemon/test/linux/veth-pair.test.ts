import { describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { vethAddresses } from "../../src/linux/veth-pair.js";

describe("vethAddresses", () => {
  it("derives the two host addresses of a /30 and larger networks", () => {
    expect(vethAddresses("10.0.5.0/30")).toEqual({
      network: "10.0.5.0",
      prefix: 30,
      hostSideIp: "10.0.5.1",
      peerSideIp: "10.0.5.2",
    });
    expect(vethAddresses("10.0.5.7/29")).toEqual({
      network: "10.0.5.0",
      prefix: 29,
      hostSideIp: "10.0.5.1",
      peerSideIp: "10.0.5.2",
    });
  });
  for (const bad of ["10.0.5.0/31", "10.0.5.0/32", "10.0.5.0", "300.0.0.0/30", "fd00::/64", "x"]) {
    it(`rejects ${bad}`, () => {
      expect(() => vethAddresses(bad)).toThrow(LinuxOpError);
    });
  }
});
