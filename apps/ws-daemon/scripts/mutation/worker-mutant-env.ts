import { beforeEach } from "vitest";

/**
 * A vitest setup file for `npm run test:mutation` only. Stryker activates a mutant through
 * `globalThis.__stryker__` of the test's thread; code that runs in a worker thread (the archive
 * extractor does) does not see that object, but instrumented code also reads the mutant from
 * the environment variable below, which a worker copies from this thread when it starts.
 */
const ENV = "__STRYKER_ACTIVE_MUTANT__";

beforeEach(() => {
  const active = (globalThis as { __stryker__?: { activeMutant?: unknown } }).__stryker__
    ?.activeMutant;
  if (active === undefined || active === null) delete process.env[ENV];
  else process.env[ENV] = String(active);
});
