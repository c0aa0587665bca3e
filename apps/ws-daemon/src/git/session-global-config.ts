import { writeFile } from "node:fs/promises";
import { join } from "node:path";

const quoted = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

/**
 * The global config file (GIT_CONFIG_GLOBAL) of one operation, written by the daemon into git's
 * private HOME. It carries what `-c` cannot:
 * - safe.directory for the file:// sources: git does not hand command-line settings to the
 *   upload-pack it starts for a local remote, and that process checks the ownership too;
 * - overrides of keys where the FIRST value wins (remote.<name>.uploadpack/receivepack): the
 *   global file is read before the repository's own config, by every git process of the
 *   operation, submodules included.
 */
export class SessionGlobalConfig {
  private readonly firstWins = new Map<string, string>();

  private constructor(
    readonly path: string,
    private readonly safeDirectories: readonly string[],
  ) {}

  static async create(home: string, safeDirectories: readonly string[]) {
    const config = new SessionGlobalConfig(join(home, "ws-daemon.gitconfig"), safeDirectories);
    await config.write();
    return config;
  }

  /** Adds `section.subsection.name = value` entries; rewrites the file when something is new. */
  async pin(entries: ReadonlyArray<[string, string]>): Promise<void> {
    let changed = false;
    for (const [key, value] of entries) {
      if (this.firstWins.get(key) === value) continue;
      this.firstWins.set(key, value);
      changed = true;
    }
    if (changed) await this.write();
  }

  private write(): Promise<void> {
    const lines = ["[safe]", ...this.safeDirectories.map((d) => `\tdirectory = ${quoted(d)}`)];
    for (const [key, value] of this.firstWins) {
      const first = key.indexOf(".");
      const last = key.lastIndexOf(".");
      lines.push(
        `[${key.slice(0, first)} ${quoted(key.slice(first + 1, last))}]`,
        `\t${key.slice(last + 1)} = ${quoted(value)}`,
      );
    }
    return writeFile(this.path, `${lines.join("\n")}\n`, { mode: 0o644 });
  }
}
