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
}

/** A plain HTTP server on 127.0.0.1 serving in-memory files by path; unknown paths are 404. */
export class HttpFileServer {
  private readonly files = new Map<string, ServedFile>();
  /** Paths requested, in order. */
  readonly requests: string[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<HttpFileServer> {
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
        if (file.truncateAt !== undefined) {
          res.writeHead(file.status ?? 200, { "content-length": String(body.length) });
          res.write(body.subarray(0, file.truncateAt), () => res.destroy());
          return;
        }
        res.writeHead(file.status ?? 200, { "content-length": String(body.length) }).end(body);
      };
      if (file.gate) file.gate.then(send, () => res.destroy());
      else send();
    });
    self = new HttpFileServer(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return self;
  }

  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
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
