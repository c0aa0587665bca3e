import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ContentCorruptError, DomainError, type StatusKind } from "../../src/platform/index.js";
import { codeOfKind, errorMappingInterceptor, toConnectError } from "../../src/rpc/index.js";

const everyKind: Record<StatusKind, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "already-exists": Code.AlreadyExists,
  "failed-precondition": Code.FailedPrecondition,
  "permission-denied": Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  "resource-exhausted": Code.ResourceExhausted,
  "data-loss": Code.DataLoss,
  unavailable: Code.Unavailable,
  cancelled: Code.Canceled,
  "deadline-exceeded": Code.DeadlineExceeded,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

describe("toConnectError", () => {
  it("maps every StatusKind to its own code and keeps message and cause", () => {
    expect(codeOfKind).toEqual(everyKind);
    for (const [kind, code] of Object.entries(everyKind)) {
      const err = new DomainError(kind as StatusKind, `a ${kind} failure`);
      const ce = toConnectError(err);
      expect([ce.code, ce.rawMessage, ce.cause], kind).toEqual([code, `a ${kind} failure`, err]);
    }
  });

  it("subclasses keep their kind (ContentCorruptError is DATA_LOSS)", () => {
    expect(toConnectError(new ContentCorruptError("bad sum")).code).toBe(Code.DataLoss);
  });

  it("aborts, timeouts and unknown errors", () => {
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    const timeout = Object.assign(new Error("late"), { name: "TimeoutError" });
    expect(toConnectError(abort).code).toBe(Code.Canceled);
    expect(toConnectError(timeout).code).toBe(Code.DeadlineExceeded);
    expect(toConnectError(new TypeError("x is undefined")).code).toBe(Code.Internal);
    // a duck-typed kind is not a DomainError: no guessing from strings
    expect(toConnectError(Object.assign(new Error("ducked"), { kind: "not-found" })).code).toBe(
      Code.Internal,
    );
    expect(toConnectError("plain string")).toMatchObject({
      code: Code.Internal,
      rawMessage: "plain string",
    });
  });

  it("a ConnectError passes through untouched", () => {
    const ce = new ConnectError("as is", Code.Aborted);
    expect(toConnectError(ce)).toBe(ce);
  });
});

describe("errorMappingInterceptor", () => {
  const request = {
    stream: false,
    message: {},
    header: new Headers(),
    contextValues: createContextValues(),
  } as never;

  it("turns a handler's DomainError into its status", async () => {
    const handler = errorMappingInterceptor(async () => {
      throw new DomainError("already-exists", "workspace ws-1 exists already");
    });
    await expect(handler(request)).rejects.toMatchObject({
      code: Code.AlreadyExists,
      rawMessage: "workspace ws-1 exists already",
    });
  });

  it("maps an error thrown while a response stream runs", async () => {
    const handler = errorMappingInterceptor(
      async () =>
        ({
          stream: true,
          message: (async function* () {
            yield { n: 1 };
            throw new DomainError("resource-exhausted", "too many");
          })(),
        }) as never,
    );
    const res = (await handler(request)) as unknown as { message: AsyncIterable<unknown> };
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const m of res.message) seen.push(m);
      })(),
    ).rejects.toMatchObject({ code: Code.ResourceExhausted, rawMessage: "too many" });
    expect(seen).toEqual([{ n: 1 }]);
  });

  it("passes a unary response through", async () => {
    const response = { stream: false, message: { ok: true } };
    const handler = errorMappingInterceptor(async () => response as never);
    expect(await handler(request)).toBe(response);
  });
});
