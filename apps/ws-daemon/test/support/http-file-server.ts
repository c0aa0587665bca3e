import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ServedFile {
  body: Buffer | string;
  status?: number;
  /** The response waits for this before sending anything (lets tests hold an init in flight). */
  gate?: Promise<void>;
  /** Send only this many bytes of the body, then destroy the connection. */
  truncateAt?: number;
  /** Extra response headers (e.g. `location` for a redirect). */
  headers?: Record<string, string>;
  /** Repeat the body forever (no content-length), until the client goes away. */
  endless?: boolean;
}

/** A plain HTTP server (on 127.0.0.1 unless told otherwise) serving in-memory files by path; unknown paths are 404. */
export class HttpFileServer {
  private readonly files = new Map<string, ServedFile>();
  /** Paths requested, in order. */
  readonly requests: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly host: string,
  ) {}

  /** Listens on `host` (default 127.0.0.1) and `port` (default: any free one). */
  static async start(host = "127.0.0.1", port = 0): Promise<HttpFileServer> {
    let self: HttpFileServer | undefined;
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      self?.requests.push(path);
      const file = self?.files.get(path);
      if (!file) {
        res.writeHead(404).end("not found");
        return;
      }
      const send = () => {
        const body = Buffer.from(file.body);
        const status = file.status ?? 200;
        if (file.endless) {
          res.writeHead(status, { ...file.headers });
          const more = (): void => {
            while (!res.destroyed && res.write(body));
            if (!res.destroyed) res.once("drain", more);
          };
          res.on("close", () => res.removeAllListeners("drain"));
          more();
          return;
        }
        const headers = { "content-length": String(body.length), ...file.headers };
        if (file.truncateAt !== undefined) {
          res.writeHead(status, headers);
          res.write(body.subarray(0, file.truncateAt), () => res.destroy());
          return;
        }
        res.writeHead(status, headers).end(body);
      };
      if (file.gate) file.gate.then(send, () => res.destroy());
      else send();
    });
    self = new HttpFileServer(server, host);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, resolve);
    });
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get baseUrl(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Serves `file` at `path` and returns its URL. */
  serve(path: string, file: ServedFile | string | Buffer): string {
    this.files.set(path, typeof file === "string" || Buffer.isBuffer(file) ? { body: file } : file);
    return `${this.baseUrl}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const sha256Digest = (data: string | Buffer): string =>
  `sha256:${createHash("sha256").update(data).digest("hex")}`;
