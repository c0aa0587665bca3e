import { describe, expect, it } from "vitest";
import { parseNfsOptions, parseNfsSource } from "../../src/linux/nfs-mount.js";
import { errorKind } from "./support/error-kind.js";

describe("NFS source and options validation", () => {
  it("parses host:/path sources", () => {
    expect(parseNfsSource("10.1.2.3:/export/ws")).toEqual({
      host: "10.1.2.3",
      address: "10.1.2.3",
      path: "/export/ws",
    });
    expect(parseNfsSource("[fd00::1]:/x")).toEqual({
      host: "[fd00::1]",
      address: "fd00::1",
      path: "/x",
    });
    expect(parseNfsSource("fs-1.efs.example.com:/")).toEqual({
      host: "fs-1.efs.example.com",
      path: "/",
    });
  });

  for (const bad of [
    "",
    "nohostpath",
    "host:relative",
    ":/x",
    "ho st:/x",
    "[not-v6]:/x",
    "host:/a/../b",
    "host:/a,b",
    "host:/a b",
    "-oops:/x",
    "a:b:/x",
  ]) {
    it(`rejects source ${JSON.stringify(bad)}`, async () => {
      expect(await errorKind(() => parseNfsSource(bad))).toBe("invalid-argument");
    });
  }

  it("keeps allow-listed options", () => {
    expect(parseNfsOptions("vers=4.1,proto=tcp, hard,timeo=600,,ro")).toEqual([
      "vers=4.1",
      "proto=tcp",
      "hard",
      "timeo=600",
      "ro",
    ]);
    expect(parseNfsOptions("")).toEqual([]);
  });

  for (const bad of [
    "addr=1.2.3.4",
    "clientaddr=1.1.1.1",
    "fsc",
    "vers=5",
    "port=abc",
    "sec=foo",
    "exec",
    "suid",
    "x=y",
  ]) {
    it(`rejects option ${bad}`, async () => {
      expect(await errorKind(() => parseNfsOptions(bad))).toBe("invalid-argument");
    });
  }
});
