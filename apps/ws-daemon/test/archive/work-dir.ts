import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";

export interface WorkDir {
  /** The current test's directory. */
  readonly path: string;
  /** A path inside it. */
  join(...segments: string[]): string;
}

/** A fresh temporary directory for every test of the calling file, removed after each test. */
export function useWorkDir(prefix: string): WorkDir {
  let current: string | undefined;
  beforeEach(() => {
    current = mkdtempSync(path.join(tmpdir(), prefix));
  });
  afterEach(() => {
    if (current !== undefined) rmSync(current, { recursive: true, force: true });
    current = undefined;
  });
  const dir = (): string => {
    if (current === undefined) throw new Error(`${prefix} work directory used outside a test`);
    return current;
  };
  return {
    get path() {
      return dir();
    },
    join: (...segments) => path.join(dir(), ...segments),
  };
}

export interface HostileTarget {
  /** The empty directory an archive is extracted into (`<work>/ws/target`). */
  readonly target: string;
  /** A directory beside it holding `victim` ("original\n"), which no extraction may touch. */
  readonly outside: string;
}

/**
 * For extraction attack tests: before every test, an empty target and, outside it, a victim file
 * that an escaping entry would overwrite.
 */
export function useHostileTarget(work: WorkDir): HostileTarget {
  beforeEach(() => {
    mkdirSync(work.join("ws", "target"), { recursive: true });
    mkdirSync(work.join("outside"));
    writeFileSync(work.join("outside", "victim"), "original\n");
  });
  return {
    get target() {
      return work.join("ws", "target");
    },
    get outside() {
      return work.join("outside");
    },
  };
}
