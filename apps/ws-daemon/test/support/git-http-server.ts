import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

export interface GitHttpServerOptions {
  /** Directory holding the bare repositories, served under /git/<name>. */
  projectRoot: string;
  /** Require HTTP Basic authentication with exactly these credentials. */
  auth?: { user: string; password: string };
  /** Forward the client's Git-Protocol header (protocol v2); false forces protocol v0. Default true. */
  protocolV2?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as the client sent them. */
  url: string;
  /** User name of the Authorization header, if any (the password is never recorded). */
  authUser: string | undefined;
  status: number;
}

/**
 * Serves bare repositories over smart HTTP through git's own CGI (git http-backend), with
 * optional Basic auth, plus one-time-secret endpoints. Every request is recorded so tests can check
 * that no secret travels in a URL.
 */
export class GitHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly ots = new Map<string, { body: string | undefined; hits: number }>();
  private failuresLeft = 0;
  private failureStatus = 503;

  private constructor(
    private readonly server: Server,
    private readonly options: GitHttpServerOptions,
  ) {}

  static async start(options: GitHttpServerOptions): Promise<GitHttpServer> {
    let self: GitHttpServer | undefined;
    const server = createServer((req, res) => {
      self?.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err.message));
      });
    });
    self = new GitHttpServer(server, options);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return self;
  }

  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  repoUrl(name: string): string {
    return `${this.baseUrl}/git/${name}`;
  }

  /** A URL that answers one GET with `<user>:<password>` and 404 afterwards. */
  createOts(user: string, password: string): string {
    const token = randomBytes(12).toString("hex");
    this.ots.set(token, { body: `${user}:${password}`, hits: 0 });
    return `${this.baseUrl}/ots/${token}`;
  }

  /** The next `count` git requests are answered with `status` (fault injection for retries). */
  failNextRequests(count: number, status = 503): void {
    this.failuresLeft = count;
    this.failureStatus = status;
  }

  otsHits(url: string): number {
    return this.ots.get(url.split("/").pop() ?? "")?.hits ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(req: IncomingMessage, status: number, authUser: string | undefined) {
    this.requests.push({ method: req.method ?? "", url: req.url ?? "", authUser, status });
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname.startsWith("/ots/")) {
      const entry = this.ots.get(url.pathname.slice("/ots/".length));
      if (entry !== undefined) entry.hits++;
      const body = entry?.body;
      if (entry !== undefined) entry.body = undefined;
      const status = req.method === "GET" && body !== undefined ? 200 : 404;
      this.record(req, status, undefined);
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(status === 200 ? body : "not found");
      return;
    }
    if (!url.pathname.startsWith("/git/")) {
      this.record(req, 404, undefined);
      res.writeHead(404).end();
      return;
    }

    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      this.record(req, this.failureStatus, undefined);
      res.writeHead(this.failureStatus).end();
      return;
    }
    const { user, password } = parseBasic(req.headers.authorization);
    const expected = this.options.auth;
    if (expected !== undefined && (user !== expected.user || password !== expected.password)) {
      this.record(req, 401, user);
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"' }).end();
      return;
    }
    await this.runBackend(req, res, url, user);
  }

  private runBackend(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    user: string | undefined,
  ) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_PROJECT_ROOT: this.options.projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      GATEWAY_INTERFACE: "CGI/1.1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname.slice("/git".length)),
      QUERY_STRING: url.search.replace(/^\?/, ""),
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
    };
    if (user !== undefined) env.REMOTE_USER = user;
    if (req.headers["content-length"] !== undefined)
      env.CONTENT_LENGTH = req.headers["content-length"];
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined) env.HTTP_CONTENT_ENCODING = encoding;
    const protocol = req.headers["git-protocol"];
    if (this.options.protocolV2 !== false && typeof protocol === "string")
      env.GIT_PROTOCOL = protocol;

    return new Promise<void>((resolve, reject) => {
      const cgi = spawn(HTTP_BACKEND, [], { env, stdio: ["pipe", "pipe", "pipe"] });
      cgi.on("error", reject);
      cgi.stderr.resume();
      req.pipe(cgi.stdin);
      cgi.stdin.on("error", () => {});
      let head = Buffer.alloc(0);
      let headerDone = false;
      cgi.stdout.on("data", (chunk: Buffer) => {
        if (headerDone) {
          res.write(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = findHeaderEnd(head);
        if (end === undefined) return;
        headerDone = true;
        let status = 200;
        for (const line of head.subarray(0, end.at).toString("latin1").split(/\r?\n/)) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const name = line.slice(0, colon).trim();
          const value = line.slice(colon + 1).trim();
          if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
          else res.setHeader(name, value);
        }
        this.record(req, status, user);
        res.writeHead(status);
        res.write(head.subarray(end.at + end.length));
      });
      cgi.on("close", () => {
        if (!headerDone) {
          this.record(req, 502, user);
          res.writeHead(502);
        }
        res.end();
        resolve();
      });
    });
  }
}

const findHeaderEnd = (buf: Buffer): { at: number; length: number } | undefined => {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf !== -1) return { at: lf, length: 2 };
  return undefined;
};

const parseBasic = (header: string | undefined): { user?: string; password?: string } => {
  if (header === undefined || !header.startsWith("Basic ")) return {};
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { user: decoded };
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
};
