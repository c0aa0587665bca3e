import { z } from "zod";
import { configSchema } from "./config-schema.js";

/** One configuration key as `--help` and docs/configuration.md show it. */
export interface Setting {
  /** Dotted path, e.g. "listen.port". */
  key: string;
  type: string;
  /** JSON text of the default; undefined when there is none. */
  default: string | undefined;
  description: string;
  /** e.g. WSD_LISTEN__PORT */
  env: string;
  /** e.g. --listen.port */
  flag: string;
  /** For keys of one kind of a section, e.g. "storage.kind=s3". */
  only: string | undefined;
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  additionalProperties?: JsonSchema | boolean;
}

/** `forcePathStyle` -> `FORCE_PATH_STYLE`; levels joined by `__` (the loader's reverse rule). */
export const envName = (key: string): string =>
  `WSD_${key
    .split(".")
    .map((s) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase())
    .join("__")}`;

const typeOf = (node: JsonSchema): string => {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.type === "object") return "map";
  return Array.isArray(node.type) ? node.type.join(" | ") : (node.type ?? "any");
};

function walk(node: JsonSchema, prefix: string, only: string | undefined, out: Setting[]): void {
  const variants = node.oneOf ?? node.anyOf;
  if (variants) {
    for (const variant of variants) {
      const kind = variant.properties?.kind?.const;
      walk(variant, prefix, kind === undefined ? only : `${prefix}kind=${String(kind)}`, out);
    }
    return;
  }
  if (node.properties) {
    for (const [name, child] of Object.entries(node.properties)) {
      const key = `${prefix}${name}`;
      if (name === "kind" && child.const !== undefined) {
        addKind(out, key, child);
        continue;
      }
      if (child.properties || child.oneOf || child.anyOf) walk(child, `${key}.`, only, out);
      else out.push(setting(key, child, only));
    }
  }
}

/** The `kind` of a section with variants: one setting listing every kind and what it means. */
function addKind(out: Setting[], key: string, variant: JsonSchema): void {
  const kind = JSON.stringify(variant.const);
  const meaning = `${kind}: ${variant.description ?? ""}`.trim();
  const existing = out.find((s) => s.key === key);
  if (existing) {
    existing.type = `${existing.type} | ${kind}`;
    existing.description = `${existing.description} ${meaning}`;
    return;
  }
  out.push({
    ...setting(key, variant, undefined),
    type: kind,
    default: kind,
    description: meaning,
  });
}

const setting = (key: string, node: JsonSchema, only: string | undefined): Setting => ({
  key,
  type: typeOf(node),
  default: node.default === undefined ? undefined : JSON.stringify(node.default),
  description: node.description ?? "",
  env: envName(key),
  flag: `--${key}`,
  only,
});

/** Every setting of the daemon, read from the same zod schema that validates the config. */
export function listSettings(): Setting[] {
  const schema = z.toJSONSchema(configSchema, {
    io: "input",
    unrepresentable: "any",
  }) as JsonSchema;
  const out: Setting[] = [];
  walk(schema, "", undefined, out);
  return out;
}

const cell = (text: string) => text.replaceAll("|", "\\|");

/** The settings table of docs/configuration.md (CI checks that the file is current). */
export function settingsMarkdown(): string {
  const rows = listSettings().map((s) => {
    const what = s.only ? `${s.description} (only with \`${s.only}\`)` : s.description;
    const def = s.default === undefined ? "" : `\`${s.default}\``;
    return `| \`${s.key}\` | ${cell(s.type)} | ${def} | \`${s.env}\` | ${cell(what)} |`;
  });
  return [
    "| key (flag `--key`) | type | default | environment | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** `ws-daemon --help`: usage, the sources of configuration and every setting. */
export function helpText(version: string): string {
  const lines = listSettings().map((s) => {
    const def = s.default === undefined ? "" : ` (default ${s.default})`;
    const only = s.only ? ` [${s.only}]` : "";
    return `  --${s.key} <${s.type}>${def}${only}\n      ${s.description}\n      env ${s.env}`;
  });
  return [
    `ws-daemon ${version}: the Workspace Daemon (node API, in-workspace API, content lifecycle)`,
    "",
    "usage: ws-daemon [--config FILE] [--<key>=<value> ...] | --help | --version",
    "",
    "Configuration, later sources winning: defaults < the config file (--config or WSD_CONFIG;",
    "JSON or YAML) < environment variables (WSD_ + the key in upper snake case, __ between",
    "levels) < flags (--key=value or --key value). Relative paths resolve against the current",
    "directory. Every key is validated at start.",
    "",
    "settings:",
    ...lines,
    "",
  ].join("\n");
}
