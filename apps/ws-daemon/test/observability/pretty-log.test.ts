import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, prettyLine } from "../../src/observability/index.js";

describe("readable log lines", () => {
  it("time, level, message, then fields; an error's stack indented below", () => {
    const line = prettyLine(
      JSON.stringify({
        level: 40,
        time: "2026-12-01T01:02:03.456Z",
        service: "ws-daemon",
        msg: "cannot remove",
        workspaceId: "ws-1",
        reason: "busy mount",
        err: { message: "EBUSY", stack: "Error: EBUSY\n    at rm (x.js:1:1)" },
      }),
    );
    expect(line).toBe(
      '01:02:03.456 WARN  cannot remove workspaceId=ws-1 reason="busy mount"\n    Error: EBUSY\n        at rm (x.js:1:1)',
    );
  });

  it("passes lines that are not JSON through unchanged", () => {
    expect(prettyLine("plain text")).toBe("plain text");
  });

  it("the logger writes JSON lines unless asked for pretty ones (auto: only on a terminal)", async () => {
    const collect = async (format: "json" | "pretty" | "auto", tty: boolean) => {
      const out = Object.assign(new PassThrough(), { isTTY: tty });
      const chunks: string[] = [];
      out.on("data", (c: Buffer) => chunks.push(c.toString()));
      createLogger("info", out, format).info({ id: "ws-1" }, "hello");
      await new Promise((r) => setImmediate(r));
      return chunks.join("");
    };
    expect(JSON.parse(await collect("json", true))).toMatchObject({ msg: "hello", id: "ws-1" });
    expect(JSON.parse(await collect("auto", false))).toMatchObject({ msg: "hello" });
    expect(await collect("pretty", false)).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello id=ws-1\n$/,
    );
    expect(await collect("auto", true)).toMatch(/ INFO {2}hello id=ws-1\n$/);
  });
});
