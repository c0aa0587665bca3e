import { describe, expect, it } from "vitest";
import { CallSignal } from "../../src/transport/call-signal.js";

describe("CallSignal", () => {
  it("makes its signal on first use and aborts it then", () => {
    const call = new CallSignal();
    const signal = call.signal;
    expect(signal.aborted).toBe(false);
    expect(call.signal).toBe(signal);
    call.abort("gone");
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe("gone");
    call.abort("again");
    expect(signal.reason).toBe("gone");
  });

  it("hands out an aborted signal when the abort came before anyone asked", () => {
    const call = new CallSignal();
    call.abort("deadline");
    expect(call.aborted).toBe(true);
    expect(call.signal.aborted).toBe(true);
    expect(call.signal.reason).toBe("deadline");
  });
});
