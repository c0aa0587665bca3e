import type { CommandSpec, FlagSpec } from "./command.js";
import { exitCodeTable } from "./exit-codes.js";
import { table } from "./format.js";
import { GLOBAL_FLAGS } from "./global-flags.js";

const flagLine = (name: string, f: FlagSpec): [string, string] => [
  `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`,
  `${f.description}${f.choices ? ` [${f.choices.join("|")}]` : ""}${f.multiple ? " (repeatable)" : ""}`,
];

const flagsBlock = (flags: Readonly<Record<string, FlagSpec>>): string =>
  table(
    Object.entries(flags).map(([n, f]) => {
      const [left, right] = flagLine(n, f);
      return [`  ${left}`, right];
    }),
  );

export const usageLine = (c: CommandSpec): string =>
  `wsdctl ${c.name}${c.args.length ? ` ${c.args.join(" ")}` : ""}${Object.keys(c.flags).length ? " [flags]" : ""}`;

export function commandHelp(c: CommandSpec): string {
  const parts = [`usage: ${usageLine(c)}`, "", c.summary];
  if (c.details) parts.push("", c.details);
  if (Object.keys(c.flags).length > 0) parts.push("", "flags:", flagsBlock(c.flags));
  parts.push("", "global flags: see wsdctl --help");
  return parts.join("\n");
}

/** `wsdctl init --help`: the commands of one group. */
export function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  const members = commands.filter((c) => c.name.startsWith(`${group} `));
  return [
    `usage: wsdctl ${group} <${group === "init" ? "kind" : "command"}> ${group === "iws" ? "" : "<id> "}[flags]`,
    "",
    table(members.map((c) => [`  ${c.name}`, c.summary])),
    "",
    `wsdctl ${group} <...> --help shows the flags of each.`,
  ].join("\n");
}

const GROUP_SUMMARIES: Record<string, string> = {
  init: "create a workspace: git, download, snapshot, backup, prebuild, empty (wsdctl init --help)",
  iws: "the in-workspace API, inside a workspace (wsdctl iws --help)",
  completion: "print a bash or zsh completion script",
};

export function mainHelp(commands: readonly CommandSpec[]): string {
  const rows: string[][] = [];
  const groups = new Set<string>();
  for (const c of commands) {
    const [first, second] = c.name.split(" ");
    if (second !== undefined && first !== undefined) {
      if (groups.has(first)) continue;
      groups.add(first);
      const placeholder = first === "init" ? "kind" : first === "completion" ? "shell" : "command";
      rows.push([`  ${first} <${placeholder}>`, GROUP_SUMMARIES[first] ?? ""]);
    } else
      rows.push([
        `  ${usageLine(c)
          .replace(/^wsdctl /, "")
          .replace(" [flags]", "")}`,
        c.summary,
      ]);
  }
  return [
    "wsdctl: operate a Workspace Daemon",
    "",
    "usage: wsdctl [global flags] <command> [args] [flags]",
    "",
    "commands:",
    table(rows),
    "",
    "global flags:",
    flagsBlock(GLOBAL_FLAGS),
    "",
    "exit codes:",
    table(exitCodeTable().map(([code, what]) => [`  ${code}`, what])),
  ].join("\n");
}
