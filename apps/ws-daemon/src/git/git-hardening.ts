/**
 * The second wall around git (the first is the confinement of the process): every setting that
 * makes git run a program is neutralised, whatever the repository's own configuration says.
 *
 * Three mechanisms, because git offers no single switch:
 * - environment variables that git reads before (and instead of) the configuration:
 *   GIT_PROXY_COMMAND="" disables core.gitProxy (git takes the first proxy command it finds and an
 *   empty one means "none"), GIT_SSH_COMMAND wins over core.sshCommand, GIT_ASKPASS="" over
 *   core.askPass, GIT_EDITOR/GIT_SEQUENCE_EDITOR=":" over core.editor/sequence.editor,
 *   GIT_PAGER="" over core.pager and pager.<cmd>, GIT_WORK_TREE over core.worktree;
 * - `-c` settings that every command gets (command-line configuration is read last, so a single
 *   valued key set there wins over the repository's): hooks, fsmonitor, signing and signature
 *   checks, external diff, the credential helper list, the protocols allowed;
 * - overrides computed per repository from the NAMES of its configured keys (listed by git
 *   without executing anything, including the configs of its submodules under .git/modules):
 *   filter drivers, diff and merge drivers, submodule update commands, gpg programs, upload-
 *   and receive-pack of every remote, and anything whose name says it is a command. They are
 *   command-line scope too (GIT_CONFIG_COUNT) and reach git's children (submodules).
 *
 * What `-c` cannot undo: keys where git uses the FIRST value (remote.<name>.uploadpack and
 * receivepack: these overrides go into the operation's global config, which git reads before the
 * repository's), and multi-valued keys that git applies all of. Of those, url.<base>.insteadOf
 * can still redirect a remote; it is contained by the protocol allow-list below, by the disabled
 * proxy command and by the confinement (a redirected file:// remote sees nothing of the node).
 */

/** Settings for every git command. */
export const STATIC_HARDENING: readonly string[] = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "core.alternateRefsCommand=",
  "diff.external=",
  "log.showSignature=false",
  "commit.gpgSign=false",
  "tag.gpgSign=false",
  "tag.forceSignAnnotated=false",
  "push.gpgSign=false",
  // reset the helper list; credential wiring adds the daemon's own helper after this
  "credential.helper=",
  "gc.auto=0",
  "maintenance.auto=false",
  "advice.detachedHead=false",
];

/** Environment that takes precedence over command-bearing configuration. */
export const HARDENING_ENV: Readonly<Record<string, string>> = {
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_ATTR_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
  GIT_PROXY_COMMAND: "",
  GIT_ASKPASS: "",
  GIT_EDITOR: ":",
  GIT_SEQUENCE_EDITOR: ":",
  GIT_PAGER: "",
  GIT_OPTIONAL_LOCKS: "0",
};

/**
 * The protocols git may use: every allowed scheme except file, file only when the operation's
 * own remote is a file:// URL (a submodule or a redirect must not reach node paths). ssh and
 * git:// only for the operation's own remotes ("user": git refuses them for submodules): they
 * resolve and connect themselves, so the network policy cannot hold for hosts it never saw.
 * Remote helpers (`<vcs>::`, remote.<name>.vcs) and ext:: are never allowed.
 */
export const protocolPolicy = (
  allowedSchemes: readonly string[],
  fileRemote: boolean,
): string[] => {
  const network = allowedSchemes.filter((s) => s !== "file");
  return [
    "protocol.allow=never",
    ...network.map((s) => `protocol.${s}.allow=${s === "ssh" || s === "git" ? "user" : "always"}`),
    `protocol.file.allow=${fileRemote && allowedSchemes.includes("file") ? "always" : "never"}`,
    "protocol.ext.allow=never",
  ];
};

/** Names (lower case) of the last key component that mean "a command to run". */
const COMMAND_NAMES = new Set([
  "cmd",
  "command",
  "program",
  "textconv",
  "driver",
  "clean",
  "smudge",
  "process",
  "helper",
  "tunnel",
  "sshcommand",
  "gitproxy",
  "askpass",
  "editor",
  "pager",
  "fsmonitor",
  "hookspath",
  "alternaterefscommand",
  "defaultkeycommand",
]);

interface KeyParts {
  section: string;
  subsection: string | undefined;
  name: string;
}

/** `section[.subsection].name`; section and name are case-insensitive, the subsection is not. */
const splitKey = (key: string): KeyParts | undefined => {
  const first = key.indexOf(".");
  const last = key.lastIndexOf(".");
  if (first <= 0 || last === key.length - 1) return undefined;
  return {
    section: key.slice(0, first).toLowerCase(),
    subsection: first === last ? undefined : key.slice(first + 1, last),
    name: key.slice(last + 1).toLowerCase(),
  };
};

/** The harmless value a command-bearing key is overridden with; undefined = not a command. */
const overrideFor = ({ section, subsection, name }: KeyParts): string | undefined => {
  if (section === "filter" && name === "required") return "false";
  if (section === "submodule" && subsection !== undefined && name === "update") return "checkout";
  if (section === "remote" && subsection !== undefined) {
    if (name === "uploadpack") return "git-upload-pack";
    if (name === "receivepack") return "git-receive-pack";
  }
  // a merge that cannot run conflicts (the user's changes stay in the stash) instead of
  // "succeeding" with an empty command
  if (section === "merge" && name === "driver") return "false";
  if (section === "core" && name === "fsmonitor") return "false";
  if (section === "core" && name === "hookspath") return "/dev/null";
  return COMMAND_NAMES.has(name) ? "" : undefined;
};

/**
 * The overrides (key, harmless value) for the command-bearing keys among `keys`. They are given
 * to git as GIT_CONFIG_COUNT/GIT_CONFIG_KEY_<n>/GIT_CONFIG_VALUE_<n>, not as `-c key=value`: a
 * subsection may contain "=", which `-c` would split at.
 */
export const commandOverrides = (keys: Iterable<string>): Array<[string, string]> => {
  const out = new Map<string, string>();
  for (const key of keys) {
    const parts = splitKey(key);
    if (parts === undefined) continue;
    const value = overrideFor(parts);
    if (value === undefined) continue;
    const sub = parts.subsection === undefined ? "" : `${parts.subsection}.`;
    out.set(`${parts.section}.${sub}${parts.name}`, value);
  }
  return [...out];
};

/**
 * Keys where git uses the first value it reads, not the last: a command-line override loses to
 * the repository's, so these go into the operation's global config (read before the
 * repository's). core.gitProxy is first-wins too; GIT_PROXY_COMMAND covers it.
 */
export const isFirstWins = (key: string): boolean =>
  /^remote\..+\.(uploadpack|receivepack)$/.test(key);

/** The environment that hands `overrides` to git (and to the git processes it starts). */
export const overrideEnv = (overrides: ReadonlyArray<[string, string]>): Record<string, string> => {
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(overrides.length) };
  overrides.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
};

/**
 * More overrides than this means a repository built to exhaust the command line; the operation
 * is refused instead.
 */
export const MAX_OVERRIDES = 1000;
