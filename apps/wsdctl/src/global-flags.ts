import type { FlagSpec } from "./command.js";

export const DEFAULT_ADDRESS = "http://127.0.0.1:8080";

/** Flags every command accepts, before or after the command's name. */
export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  address: {
    type: "string",
    short: "a",
    value: "URL",
    description: `daemon address: http://host:port, https://host:port or unix:///path (env WSDCTL_ADDRESS; default ${DEFAULT_ADDRESS})`,
  },
  socket: { type: "string", value: "PATH", description: "the daemon's Unix socket (unix://PATH)" },
  tls: { type: "boolean", description: "use TLS (an http:// address becomes https://)" },
  ca: { type: "string", value: "FILE", description: "CA certificate(s) that sign the daemon's" },
  cert: { type: "string", value: "FILE", description: "client certificate for mutual TLS" },
  key: { type: "string", value: "FILE", description: "client key for mutual TLS" },
  "server-name": {
    type: "string",
    value: "NAME",
    description: "name to verify the daemon's certificate against",
  },
  protocol: {
    type: "string",
    value: "P",
    choices: ["grpc", "connect", "grpc-web"],
    description: "wire protocol (default grpc)",
  },
  context: {
    type: "string",
    value: "NAME",
    description: 'a connection from the context file (env WSDCTL_CONTEXT; default: its "current")',
  },
  config: {
    type: "string",
    value: "FILE",
    description: "the context file (env WSDCTL_CONFIG; default ~/.config/wsdctl/contexts.json)",
  },
  timeout: {
    type: "string",
    value: "DURATION",
    description: "deadline of each call, e.g. 30s, 500ms, 5m (default none)",
  },
  output: {
    type: "string",
    short: "o",
    value: "FORMAT",
    choices: ["text", "json"],
    description: "text (default) or json (one JSON document; watch: one per line)",
  },
  "no-progress": { type: "boolean", description: "no progress display, even on a terminal" },
  help: { type: "boolean", short: "h", description: "show help" },
};

/** `30s`, `500ms`, `2m`, `1h`, or plain milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m?.[1]) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"] ?? 1;
  return Math.round(Number(m[1]) * factor);
}
