import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Transport } from "@connectrpc/connect";
import {
  createDaemonTransport,
  type DaemonProtocol,
  type DaemonTransportOptions,
} from "@ws-daemon/api";
import { type Flags, str, UsageError } from "./command.js";
import { DEFAULT_ADDRESS, parseDuration } from "./global-flags.js";

/** One named connection of the context file; paths are read when connecting. */
export interface ContextEntry {
  address?: string;
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  protocol?: DaemonProtocol;
}

/**
 * The context file (JSON), like a kubeconfig:
 * `{ "current": "local", "contexts": { "local": { "address": "http://127.0.0.1:8080" } } }`.
 */
export interface ContextFile {
  current?: string;
  contexts: Record<string, ContextEntry>;
}

export const defaultContextFile = (env: NodeJS.ProcessEnv): string =>
  env.WSDCTL_CONFIG ?? join(env.HOME ?? homedir(), ".config", "wsdctl", "contexts.json");

function loadContext(flags: Flags, env: NodeJS.ProcessEnv): ContextEntry {
  const explicitFile = str(flags, "config") ?? env.WSDCTL_CONFIG;
  const file = explicitFile ?? defaultContextFile(env);
  const wanted = str(flags, "context") ?? env.WSDCTL_CONTEXT;
  let parsed: ContextFile;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8")) as ContextFile;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    // no file is fine unless one was asked for
    if (missing && explicitFile === undefined && wanted === undefined) return {};
    throw new UsageError(`cannot read the context file ${file}: ${(e as Error).message}`);
  }
  const name = wanted ?? parsed.current;
  if (name === undefined) return {};
  const entry = parsed.contexts?.[name];
  if (!entry) throw new UsageError(`context "${name}" is not in ${file}`);
  return entry;
}

const readPem = (file: string | undefined): Buffer | undefined => {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
};

/** The daemon transport from flags over the context file over the environment. */
export function transportFromFlags(
  flags: Flags,
  env: NodeJS.ProcessEnv,
  fallbackAddress = DEFAULT_ADDRESS,
): Transport {
  const ctx = loadContext(flags, env);
  const socket = str(flags, "socket");
  let address =
    (socket !== undefined ? `unix://${socket}` : undefined) ??
    str(flags, "address") ??
    (str(flags, "context") === undefined ? env.WSDCTL_ADDRESS : undefined) ??
    ctx.address ??
    fallbackAddress;
  if (flags.tls === true && address.startsWith("http://")) {
    address = `https://${address.slice("http://".length)}`;
  }
  const ca = str(flags, "ca") ?? ctx.ca;
  const cert = str(flags, "cert") ?? ctx.cert;
  const key = str(flags, "key") ?? ctx.key;
  const serverName = str(flags, "server-name") ?? ctx.serverName;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("mutual TLS needs both --cert and --key");
  }
  const secure = address.startsWith("https://");
  if (!secure && (ca || cert || serverName)) {
    throw new UsageError("--ca, --cert, --key and --server-name need TLS: use --tls or https://");
  }
  const protocol = (str(flags, "protocol") ?? ctx.protocol) as DaemonProtocol | undefined;
  if (protocol !== undefined && !["grpc", "connect", "grpc-web"].includes(protocol)) {
    throw new UsageError(`--protocol is grpc, connect or grpc-web, got "${protocol}"`);
  }
  const timeoutText = str(flags, "timeout");
  const timeout = timeoutText === undefined ? undefined : parseDuration(timeoutText);
  if (timeoutText !== undefined && timeout === undefined) {
    throw new UsageError(`--timeout is a duration like 30s or 500ms, got "${timeoutText}"`);
  }
  const options: DaemonTransportOptions = {
    address,
    protocol,
    defaultTimeoutMs: timeout,
    tls: secure
      ? { ca: readPem(ca), cert: readPem(cert), key: readPem(key), serverName }
      : undefined,
  };
  try {
    return createDaemonTransport(options);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
