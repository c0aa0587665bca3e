import { type Clock, isDomainError, retry, systemClock } from "../platform/index.js";
import { GitError } from "./git-error.js";
import type { GitAuth } from "./types.js";

export interface BasicCredentials {
  user: string;
  password: string;
}

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

const USER_VAR = "WS_DAEMON_GIT_USER";
const PASSWORD_VAR = "WS_DAEMON_GIT_PASSWORD";

/**
 * A credential helper given to git with `-c`: it prints the credentials from two environment
 * variables that only this git process (and its children) receive. The secret is therefore never in
 * argv, in a file, or in .git/config; the helper text in argv holds only the variable names.
 * printf, not echo: dash's echo would interpret backslashes in the password.
 */
const HELPER =
  `!f() { test "$1" = get || exit 0; ` +
  `printf 'username=%s\\npassword=%s\\n' "$${USER_VAR}" "$${PASSWORD_VAR}"; }; f`;

/** Scope of the helper: only the origin's scheme://host[:port], so a redirect elsewhere gets nothing. */
const credentialScope = (remoteUri: string): string | undefined => {
  try {
    const url = new URL(remoteUri);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return `${url.protocol}//${url.host}`;
  } catch {
    return undefined;
  }
};

export interface GitCredentialWiring {
  /** `-c` arguments for the git command line (before the subcommand). */
  configArgs: string[];
  /** Extra environment for that one git process. */
  env: Record<string, string>;
}

export const credentialWiring = (
  remoteUri: string,
  credentials: BasicCredentials | undefined,
): GitCredentialWiring => {
  // The empty value resets any helper list inherited from other config, so nothing else (e.g. a
  // `store` helper from a restored checkout's .git/config) can save or supply credentials.
  const configArgs = ["-c", "credential.helper="];
  if (credentials === undefined) return { configArgs, env: {} };
  const scope = credentialScope(remoteUri);
  if (scope === undefined) return { configArgs, env: {} };
  configArgs.push("-c", `credential.${scope}.helper=${HELPER}`);
  return {
    configArgs,
    env: { [USER_VAR]: credentials.user, [PASSWORD_VAR]: credentials.password },
  };
};

const splitUserPassword = (body: string): BasicCredentials | undefined => {
  const text = body.replace(/\r?\n$/, "");
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
};

/** `<user>:<password>` is short; a larger answer is not a secret, and is not read on. */
export const MAX_OTS_BYTES = 64 * 1024;

/** The body as text, or undefined when it is larger than `max` bytes (then it is cancelled). */
const readCapped = async (response: Response, max: number): Promise<string | undefined> => {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
};

/** The URL is itself the capability: its path and query never appear in a message. */
const withoutCapability = (text: string, otsUrl: string): string => {
  try {
    const { pathname, search } = new URL(otsUrl);
    const secret = `${pathname}${search}`;
    return secret.length > 1 ? text.split(secret).join("/***") : text;
  } catch {
    return text;
  }
};

export interface OtsOptions {
  fetch: FetchFn;
  /** Attempts in all; default 3. */
  attempts?: number;
  /** Constant wait between attempts; default 500 ms. */
  retryDelayMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
}

/** One failed download; `retryable` when asking again can help (network error, 5xx). */
class OtsAttemptFailed extends Error {
  constructor(
    readonly problem: string,
    readonly retryable: boolean,
  ) {
    super(problem);
  }
}

/**
 * Downloads a one-time secret. Only network errors and 5xx answers are retried: any other answer
 * means the secret is consumed or never existed, and asking again cannot help.
 */
export const fetchOneTimeSecret = async (
  otsUrl: string,
  options: OtsOptions,
): Promise<BasicCredentials> => {
  const attempt = async (): Promise<BasicCredentials> => {
    options.signal?.throwIfAborted();
    let response: Response;
    try {
      response = await options.fetch(otsUrl, {
        method: "GET",
        redirect: "error",
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      options.signal?.throwIfAborted();
      // the network policy refused the address, or a redirect came: asking again cannot help
      if (isDomainError(err)) {
        throw new GitError(
          err.kind === "permission-denied" ? "network-policy" : "auth",
          `cannot get one-time secret: ${withoutCapability(err.message, otsUrl)}`,
        );
      }
      // the error text may quote the URL, which is itself the capability: keep only the class
      const name = err instanceof Error ? err.name : typeof err;
      throw new OtsAttemptFailed(`request failed (${name})`, true);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new OtsAttemptFailed(`HTTP ${response.status}`, response.status >= 500);
    }
    const body = await readCapped(response, MAX_OTS_BYTES);
    if (body === undefined) {
      throw new GitError(
        "auth",
        `cannot get one-time secret: the answer is larger than ${MAX_OTS_BYTES} bytes`,
      );
    }
    const credentials = splitUserPassword(body);
    if (credentials === undefined) {
      throw new GitError(
        "auth",
        "cannot get one-time secret: the answer is not '<user>:<password>'",
      );
    }
    return credentials;
  };
  try {
    return await retry(attempt, {
      attempts: options.attempts ?? 3,
      delayMs: options.retryDelayMs ?? 500,
      backoff: "constant",
      clock: options.clock ?? systemClock,
      signal: options.signal,
      retryable: (err) => err instanceof OtsAttemptFailed && err.retryable,
    });
  } catch (err) {
    if (err instanceof OtsAttemptFailed) {
      throw new GitError("auth", `cannot get one-time secret: ${err.problem}`);
    }
    throw err;
  }
};

/** Resolves credentials for an auth spec; the caller caches the result because an OTS works once. */
export const resolveCredentials = async (
  auth: GitAuth,
  options: OtsOptions,
): Promise<BasicCredentials | undefined> => {
  switch (auth.kind) {
    case "none":
      return undefined;
    case "basic":
      return { user: auth.user, password: auth.password };
    case "basic-ots":
      return fetchOneTimeSecret(auth.otsUrl, options);
  }
};
