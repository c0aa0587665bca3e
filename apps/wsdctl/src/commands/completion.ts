import { type CommandSpec, UsageError } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { GLOBAL_FLAGS } from "../global-flags.js";

const quote = (words: readonly string[]) => words.join(" ");

/**
 * A bash completion function generated from the command table: command words, then the flags of
 * the command, then the choices of a flag that takes one of a few values. zsh loads the same
 * function through bashcompinit.
 */
export function bashCompletion(commands: readonly CommandSpec[]): string {
  const top = [...new Set(commands.map((c) => c.name.split(" ")[0] ?? ""))].sort();
  const subs = new Map<string, string[]>();
  for (const c of commands) {
    const [first, second] = c.name.split(" ");
    if (first && second) subs.set(first, [...(subs.get(first) ?? []), second]);
  }
  const all = [
    ...Object.entries(GLOBAL_FLAGS),
    ...commands.flatMap((c) => Object.entries(c.flags)),
  ];
  const valued = [
    ...new Set(
      all
        .filter(([, f]) => f.type === "string")
        .flatMap(([n, f]) => (f.short ? [`-${f.short}`, `--${n}`] : [`--${n}`])),
    ),
  ];
  const choices = new Map<string, readonly string[]>();
  for (const [n, f] of all) {
    if (f.choices) choices.set(f.short ? `-${f.short}|--${n}` : `--${n}`, f.choices);
  }
  const globalFlags = Object.keys(GLOBAL_FLAGS).map((n) => `--${n}`);
  const lines = [
    "# wsdctl completion for bash (source it, or put it in /etc/bash_completion.d/wsdctl)",
    "_wsdctl() {",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a template
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  local cmd="" sub="" skip="" i w',
    "  for ((i = 1; i < COMP_CWORD; i++)); do",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a template
    '    w="${COMP_WORDS[i]}"',
    '    if [ -n "$skip" ]; then skip=""; continue; fi',
    '    case "$w" in',
    `      ${valued.join("|")}) skip=1 ;;`,
    "      -*) ;;",
    '      *) if [ -z "$cmd" ]; then cmd="$w"; elif [ -z "$sub" ]; then sub="$w"; fi ;;',
    "    esac",
    "  done",
    '  case "$prev" in',
    ...[...choices].map(
      ([flag, values]) =>
        `    ${flag}) COMPREPLY=($(compgen -W "${quote(values)}" -- "$cur")); return ;;`,
    ),
    "  esac",
    '  local words=""',
    '  case "$cmd $sub" in',
    ...commands.map(
      (c) =>
        `    "${c.name}${c.name.includes(" ") ? "" : " "}"*) words="${quote(Object.keys(c.flags).map((n) => `--${n}`))}" ;;`,
    ),
    "  esac",
    '  if [[ "$cur" == -* ]]; then',
    `    COMPREPLY=($(compgen -W "$words ${quote(globalFlags)}" -- "$cur"))`,
    '  elif [ -z "$cmd" ]; then',
    `    COMPREPLY=($(compgen -W "${quote(top)}" -- "$cur"))`,
    '  elif [ -z "$sub" ]; then',
    '    case "$cmd" in',
    ...[...subs].map(
      ([first, list]) => `      ${first}) COMPREPLY=($(compgen -W "${quote(list)}" -- "$cur")) ;;`,
    ),
    "    esac",
    "  fi",
    "}",
    "complete -F _wsdctl wsdctl",
  ];
  return `${lines.join("\n")}\n`;
}

export const completionCommand = (commands: () => readonly CommandSpec[]): CommandSpec[] =>
  ["bash", "zsh"].map((shell) => ({
    name: `completion ${shell}`,
    summary: `print the ${shell} completion script (e.g. source <(wsdctl completion ${shell}))`,
    args: [],
    flags: {},
    async run(ctx, input) {
      if (input.positionals.length > 0)
        throw new UsageError(`unexpected argument "${input.positionals[0]}"`);
      const script = bashCompletion(commands());
      ctx.stdout.write(
        shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script,
      );
      return EXIT.ok;
    },
  }));
