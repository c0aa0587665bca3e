import type { Writable } from "node:stream";
import type {
  HealthClient,
  InWorkspaceClients,
  WorkspaceContentServiceClient,
} from "@ws-daemon/api";

/** Thrown for bad command lines: exit code 2, nothing sent. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface FlagSpec {
  type: "string" | "boolean";
  description: string;
  short?: string;
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  /** Placeholder in help, e.g. "URL". */
  value?: string;
  /** The accepted values (help and shell completion). */
  choices?: readonly string[];
}

export type FlagValue = string | boolean | string[] | undefined;
export type Flags = Record<string, FlagValue>;

export interface CommandInput {
  positionals: string[];
  flags: Flags;
}

/** Where a command writes and what it may call. */
export interface CommandContext {
  stdout: Writable;
  stderr: Writable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  output: "text" | "json";
  /** false with --no-progress. */
  progress: boolean;
  /** Aborted by Ctrl-C. */
  signal: AbortSignal;
  content(): WorkspaceContentServiceClient;
  health(): HealthClient;
  inWorkspace(): InWorkspaceClients;
}

export interface CommandSpec {
  /** One or two words: "list", "init git", "iws teardown". */
  name: string;
  summary: string;
  /** Positional arguments for the usage line, e.g. ["<id>"]. */
  args: readonly string[];
  flags: Readonly<Record<string, FlagSpec>>;
  /** More text for `--help`. */
  details?: string;
  /** Returns the exit code. */
  run(ctx: CommandContext, input: CommandInput): Promise<number>;
}

export const str = (flags: Flags, name: string): string | undefined => {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
};

export const requiredStr = (flags: Flags, name: string): string => {
  const v = str(flags, name);
  if (v === undefined || v === "") throw new UsageError(`--${name} is required`);
  return v;
};

export const bool = (flags: Flags, name: string): boolean => flags[name] === true;

export const list = (flags: Flags, name: string): string[] => {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
};

/** The single positional <id> a workspace command takes. */
export const workspaceId = (input: CommandInput): string => {
  const [id, ...rest] = input.positionals;
  if (id === undefined || id === "") throw new UsageError("the workspace id is missing");
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  return id;
};

export const noPositionals = (input: CommandInput): void => {
  if (input.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${input.positionals[0]}"`);
  }
};
