import { describe, expect, it } from "vitest";
import { HostileArchiveError } from "../../src/archive/archive-errors.js";
import { type RestoreFailures, restoreFailureCause } from "../../src/archive/restore-failure.js";
import { ZstdFailedError } from "../../src/archive/zstd-process.js";
import { ContentCorruptError } from "../../src/platform/index.js";

const none: RestoreFailures = {
  first: new Error("the first rejection"),
  worker: undefined,
  feed: undefined,
  zstd: undefined,
  signal: undefined,
  source: undefined,
};

const systemError = (code: string, syscall: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${syscall} failed`), { code, syscall });

const aborted = (reason?: unknown): AbortSignal => {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
};

/** How zstd reports each way of ending, as ZstdProcess builds them. */
const zstdErrors = {
  corrupt: new ZstdFailedError(
    "zstd decompression failed (exit 1): zstd: /*stdin*\\: Data corruption detected",
    1,
  ),
  brokenPipe: new ZstdFailedError(
    "zstd decompression failed (exit 1): zstd: error 70 : Write error : cannot write block : Broken pipe",
    1,
  ),
  sigpipe: new ZstdFailedError("zstd decompression failed (SIGPIPE): ", null, "SIGPIPE"),
  killed: new ZstdFailedError("zstd decompression failed (SIGKILL): ", null, "SIGKILL"),
  cannotRun: new Error("cannot run /no/such/zstd: spawn /no/such/zstd ENOENT"),
};

describe("which failure of a restore is the cause", () => {
  it("1. the caller's abort wins over everything, as its reason", () => {
    const reason = new Error("shutting down");
    const cause = restoreFailureCause({
      ...none,
      signal: aborted(reason),
      source: new Error("socket hang up"),
      worker: new HostileArchiveError("../x", 'contains ".."'),
      zstd: zstdErrors.corrupt,
    });
    expect(cause).toBe(reason);
  });

  it("2. the source's own failure (e.g. the download) comes next", () => {
    const source = new Error("socket hang up");
    const cause = restoreFailureCause({
      ...none,
      source,
      worker: new ContentCorruptError("archive is not a valid tar stream: truncated"),
      zstd: zstdErrors.corrupt,
    });
    expect(cause).toBe(source);
  });

  it("3. a hostile entry the worker refused", () => {
    const worker = new HostileArchiveError("dev", "character-device entries are not allowed");
    const cause = restoreFailureCause({ ...none, worker, zstd: zstdErrors.brokenPipe });
    expect(cause).toBe(worker);
  });

  it("4. the worker's own file system writes (ENOSPC, EDQUOT...), even with zstd failing", () => {
    const worker = systemError("ENOSPC", "write");
    const cause = restoreFailureCause({ ...none, worker, zstd: zstdErrors.corrupt });
    expect(cause).toBe(worker);
  });

  it("5. zstd rejecting its input is corrupt content, ahead of the cut tar stream it causes", () => {
    const cause = restoreFailureCause({
      ...none,
      worker: new ContentCorruptError("archive is not a valid tar stream: unexpected end"),
      zstd: zstdErrors.corrupt,
    });
    expect(cause).toBeInstanceOf(ContentCorruptError);
    expect(cause).toMatchObject({
      message: `archive cannot be decompressed: ${zstdErrors.corrupt.message}`,
    });
  });

  it("6. any other worker error, when zstd only lost its reader or was killed", () => {
    const tarError = new ContentCorruptError("archive is not a valid tar stream: bad checksum");
    expect(restoreFailureCause({ ...none, worker: tarError, zstd: zstdErrors.brokenPipe })).toBe(
      tarError,
    );
    const crashed = new Error("extract-worker exited with code 1 before finishing");
    expect(restoreFailureCause({ ...none, worker: crashed, zstd: zstdErrors.killed })).toBe(
      crashed,
    );
  });

  it("7. zstd that could not start or was killed is the machine's problem, not corrupt content", () => {
    for (const zstd of [zstdErrors.cannotRun, zstdErrors.killed]) {
      expect(restoreFailureCause({ ...none, zstd, feed: systemError("EPIPE", "write") })).toBe(
        zstd,
      );
    }
  });

  it("7. ...but zstd that only lost its reader (EPIPE or SIGPIPE) is a consequence", () => {
    for (const zstd of [zstdErrors.brokenPipe, zstdErrors.sigpipe]) {
      const feed = systemError("EIO", "read");
      expect(restoreFailureCause({ ...none, zstd, feed })).toBe(feed);
    }
  });

  it("8. reading the local archive file failing is that error", () => {
    const feed = systemError("EIO", "read");
    expect(restoreFailureCause({ ...none, feed })).toBe(feed);
    // without a feed error the first rejection is judged
    const first = systemError("EBADF", "read");
    expect(restoreFailureCause({ ...none, first })).toBe(first);
  });

  it("9. anything else means the archive could not be read", () => {
    const cause = restoreFailureCause({ ...none, feed: new Error("premature close") });
    expect(cause).toBeInstanceOf(ContentCorruptError);
    expect(cause).toMatchObject({ message: "archive cannot be read: premature close" });
    expect(restoreFailureCause(none)).toMatchObject({
      message: "archive cannot be read: the first rejection",
    });
  });

  it("an abort without a reason falls back to the first rejection", () => {
    const signal = { aborted: true, reason: undefined } as AbortSignal;
    expect(restoreFailureCause({ ...none, signal })).toBe(none.first);
  });
});
