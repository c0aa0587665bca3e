import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configSchema, type DaemonConfig } from "./config-schema.js";

/** A configuration that failed validation; the message names every bad key. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface ConfigSources {
  /** Command-line arguments after the program name. */
  argv?: readonly string[];
  /** Environment; keys WSD_<PATH> with "__" between levels, e.g. WSD_LISTEN__PORT=8081. */
  env?: Record<string, string | undefined>;
}

type Tree = Record<string, unknown>;

/** Values from env and flags are strings; JSON-looking ones (numbers, booleans, objects) are parsed. */
function parseScalar(raw: string): unknown {
  if (/^(true|false|null|-?\d+(\.\d+)?|\{.*\}|\[.*\])$/s.test(raw.trim())) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

function setPath(tree: Tree, keys: string[], value: unknown): void {
  let node = tree;
  keys.forEach((key, i) => {
    if (i === keys.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  });
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      typeof v === "object" &&
      v !== null &&
      !Array.isArray(v) &&
      typeof b === "object" &&
      b !== null &&
      !Array.isArray(b)
        ? merge(b as Tree, v as Tree)
        : v;
  }
  return out;
}

const camel = (s: string) =>
  s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * WSD_* variables that are not configuration keys: the config file's path, the namespace
 * helper override and the health probe's target (read by their own modules), and test knobs.
 */
const nonConfigEnv = new Set(["WSD_CONFIG", "WSD_NSHELPER", "WSD_HEALTHCHECK_ADDRESS"]);

function fromEnv(env: Record<string, string | undefined>): Tree {
  const tree: Tree = {};
  for (const [key, value] of Object.entries(env)) {
    if (
      !key.startsWith("WSD_") ||
      nonConfigEnv.has(key) ||
      key.startsWith("WSD_TEST_") ||
      value === undefined
    ) {
      continue;
    }
    setPath(tree, envPath(key.slice(4).split("__")), parseScalar(value));
  }
  return tree;
}

/** Config paths whose children are names chosen by the user (workspace ids), not schema keys. */
const userKeyedMaps = [["runtime", "workspaces"]];

/** Schema keys are camel-cased from the variable name; names below a user-keyed map stay as written. */
function envPath(segments: string[]): string[] {
  const out: string[] = [];
  for (const seg of segments) {
    const verbatim = userKeyedMaps.some(
      (map) => map.length === out.length && map.every((k, i) => out[i] === k),
    );
    out.push(verbatim ? seg : camel(seg));
  }
  return out;
}

interface ParsedArgs {
  configFile?: string;
  overrides: Tree;
}

/**
 * Flags are `--dotted.key=value` or `--dotted.key value`; a flag without a value is `true`.
 * node:util parseArgs tokenizes (so `--` and `-x` follow Node's rules); the keys are open-ended,
 * so it runs non-strict and a flag takes the following positional token as its value.
 */
function fromArgv(argv: readonly string[]): ParsedArgs {
  // `--key -5` means the value -5: join a bare flag with a following non-flag argument first,
  // which parseArgs would otherwise read as short options
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const bare = arg.startsWith("--") && arg.length > 2 && !arg.includes("=");
    if (bare && next !== undefined && !next.startsWith("--")) {
      args.push(`${arg}=${next}`);
      i++;
    } else args.push(arg);
  }
  const { tokens } = parseArgs({
    args,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const overrides: Tree = {};
  let configFile: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined || token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      throw new ConfigError(
        `unexpected argument "${token.value}" (flags look like --listen.port=8080)`,
      );
    }
    if (token.rawName.startsWith("-") && !token.rawName.startsWith("--")) {
      throw new ConfigError(
        `unknown short flag "${token.rawName}" (flags look like --listen.port=8080)`,
      );
    }
    let value = token.value;
    const next = tokens[i + 1];
    if (value === undefined && next?.kind === "positional") {
      value = next.value;
      i++;
    }
    if (token.name === "config") configFile = value ?? "";
    else setPath(overrides, token.name.split("."), parseScalar(value ?? "true"));
  }
  return configFile === undefined ? { overrides } : { configFile, overrides };
}

async function fromFile(file: string): Promise<Tree> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  try {
    const parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== "object" || Array.isArray(parsed))
      throw new Error("the top level must be a mapping");
    return parsed as Tree;
  } catch (e) {
    throw new ConfigError(`cannot parse config file ${file}: ${(e as Error).message}`);
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      return `${key}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Reads the configuration: defaults < config file (--config or WSD_CONFIG; JSON or YAML) <
 * environment (WSD_*) < command-line flags. Throws ConfigError naming every bad key.
 */
export async function loadConfig(sources: ConfigSources = {}): Promise<DaemonConfig> {
  const env = sources.env ?? {};
  const args = fromArgv(sources.argv ?? []);
  const file = args.configFile ?? env.WSD_CONFIG;
  const fileTree = file !== undefined ? await fromFile(path.resolve(file)) : {};
  return validateConfig(merge(merge(fileTree, fromEnv(env)), args.overrides));
}

/**
 * Environment and flag values are guessed from their text ("8080" is a number), but some string
 * keys legitimately look like numbers or booleans (a bucket "12345", a key id "true"). Where the
 * schema wants a string and got a guessed number/boolean, the text is used as the string.
 */
function stringsWhereExpected(input: unknown, error: z.ZodError): boolean {
  let changed = false;
  for (const issue of error.issues) {
    if (issue.code !== "invalid_type" || issue.expected !== "string" || issue.path.length === 0)
      continue;
    let parent: unknown = input;
    for (const key of issue.path.slice(0, -1))
      parent = (parent as Record<PropertyKey, unknown>)?.[key as PropertyKey];
    const last = issue.path[issue.path.length - 1] as PropertyKey;
    if (typeof parent !== "object" || parent === null) continue;
    const value = (parent as Record<PropertyKey, unknown>)[last];
    if (typeof value === "number" || typeof value === "boolean") {
      (parent as Record<PropertyKey, unknown>)[last] = String(value);
      changed = true;
    }
  }
  return changed;
}

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Conveniences before validation: the old top-level `logLevel` is read as `log.level`, and a
 * `storage` or `runtime` section without `kind` is of the default kind (so `--storage.root=DIR`
 * alone works).
 */
function applyShorthands(input: unknown): unknown {
  if (!isTree(input)) return input;
  const out: Tree = { ...input };
  if (out.logLevel !== undefined) {
    const log = isTree(out.log) ? { ...out.log } : {};
    if (log.level === undefined) log.level = out.logLevel;
    out.log = log;
    delete out.logLevel;
  }
  for (const [section, kind] of [
    ["storage", "local"],
    ["runtime", "process"],
  ] as const) {
    const value = out[section];
    if (isTree(value) && value.kind === undefined) out[section] = { kind, ...value };
  }
  return out;
}

export function validateConfig(raw: unknown): DaemonConfig {
  const input = applyShorthands(raw);
  let result = configSchema.safeParse(input);
  if (!result.success && stringsWhereExpected(input, result.error))
    result = configSchema.safeParse(input);
  if (!result.success)
    throw new ConfigError(`invalid configuration: ${describeIssues(result.error)}`);
  return result.data;
}
