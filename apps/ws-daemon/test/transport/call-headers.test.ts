import { describe, expect, it } from "vitest";
import { CallHeaders } from "../../src/transport/call-headers.js";

/** Applies the same changes to a Fetch Headers and a CallHeaders. */
function both(init?: Record<string, string | string[]>) {
  const fetchHeaders = new Headers();
  for (const [k, v] of Object.entries(init ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) fetchHeaders.append(k, one);
  }
  const ours = new CallHeaders(init ? { ":path": "/x", ...init } : undefined);
  return { fetchHeaders, ours, all: [fetchHeaders, ours] as Headers[] };
}

const listOf = (h: Headers) => [...h.entries()];

describe("CallHeaders behaves as the Fetch API's Headers", () => {
  it("reads request headers case-insensitively, without pseudo-headers, then takes changes", () => {
    const { fetchHeaders, ours, all } = both({
      "x-request-id": "r1",
      "set-cookie": ["a=1", "b=2"],
      accept: "x, y",
    });
    expect(ours.get("X-Request-ID")).toBe("r1");
    expect([...ours.keys()]).toEqual([...fetchHeaders.keys()]);
    expect(ours.has("accept")).toBe(true);
    for (const h of all) {
      h.append("x-list", "a");
      h.append("X-List", "b");
      h.set("x-one", "  padded\t");
      h.delete("accept");
      h.append("set-cookie", "c=3");
    }
    expect(listOf(ours)).toEqual(listOf(fetchHeaders));
    expect(ours.getSetCookie()).toEqual(fetchHeaders.getSetCookie());
    expect(ours.get("set-cookie")).toBe(fetchHeaders.get("set-cookie"));
    expect([...ours.keys()]).toEqual([...fetchHeaders.keys()]);
    expect([...ours.values()]).toEqual([...fetchHeaders.values()]);
    const seen: string[] = [];
    ours.forEach((v, k) => {
      seen.push(`${k}=${v}`);
    });
    expect(seen).toEqual(listOf(fetchHeaders).map(([k, v]) => `${k}=${v}`));
  });

  it("refuses the names and values Headers refuses (TypeError)", () => {
    const { all } = both();
    for (const h of all) {
      expect(() => h.set("bad name", "v")).toThrow(TypeError);
      expect(() => h.set("x-a", "line\r\nx-injected: 1")).toThrow(TypeError);
      expect(() => h.append("x-a", "nul\0")).toThrow(TypeError);
      expect(() => h.get("bad name")).toThrow(TypeError);
    }
  });

  it("converts to a real Headers and writes an HTTP/2 header block (Set-Cookie as a list)", () => {
    const ours = new CallHeaders();
    ours.set("x-a", "1");
    ours.append("set-cookie", "a=1");
    ours.append("set-cookie", "b=2");
    expect(listOf(new Headers(ours))).toEqual(listOf(ours));
    expect(ours.writeTo({ ":status": 200 })).toEqual({
      ":status": 200,
      "x-a": "1",
      "set-cookie": ["a=1", "b=2"],
    });
  });
});
