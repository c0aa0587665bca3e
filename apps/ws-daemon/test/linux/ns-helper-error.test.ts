import { describe, expect, it } from "vitest";
import { NsHelperError } from "../../src/linux/index.js";

describe("NsHelperError", () => {
  it("reports the workspace's side of a kernel refusal as such, not as INTERNAL", () => {
    // found by the API fuzzing: MountSysfs {target: "/sys", pid: 2} after generated unmounts in
    // the same namespace failed in move_mount with ENOENT and the caller saw INTERNAL
    expect(new NsHelperError("move_mount", 2, "No such file or directory").kind).toBe(
      "failed-precondition",
    );
    expect(new NsHelperError("setns", 3, "No such process").kind).toBe("failed-precondition");
    expect(new NsHelperError("mount", 19, "No such device").kind).toBe("failed-precondition");
    expect(new NsHelperError("openat2", 40, "Too many levels of symbolic links").kind).toBe(
      "failed-precondition",
    );
    expect(new NsHelperError("mount", 1, "Operation not permitted").kind).toBe("permission-denied");
    // what only the daemon or the node can be blamed for stays INTERNAL
    expect(new NsHelperError("mount", 12, "Cannot allocate memory").kind).toBe("internal");
    expect(new NsHelperError("move_mount", 2, "No such file or directory").errno).toBe(2);
  });
});
