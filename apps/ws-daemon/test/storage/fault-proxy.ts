import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type FaultAction =
  /** Answer 503 SlowDown without forwarding (S3's "reduce your request rate"). */
  | "503"
  /** Reset the connection before answering. */
  | "drop"
  /** Forward, but cut the connection after `afterBytes` of the response body. */
  | { cutResponseAfter: number };

export interface Fault {
  match: (req: http.IncomingMessage) => boolean;
  action: FaultAction;
  /** How often this fault fires before it is used up. Default 1. */
  times?: number;
  fired?: number;
}

/**
 * A tiny HTTP proxy in front of moto that injects S3 failures (throttling, connection resets,
 * connections dropped mid-download). Faults are consumed in order of registration.
 */
export class FaultProxy {
  readonly faults: Fault[] = [];
  private readonly server: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true });
  endpoint = "";

  constructor(private readonly upstream: string) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    this.agent.destroy();
  }

  add(fault: Fault): Fault {
    fault.fired = 0;
    this.faults.push(fault);
    return fault;
  }

  private take(req: http.IncomingMessage): FaultAction | undefined {
    const f = this.faults.find((x) => (x.fired ?? 0) < (x.times ?? 1) && x.match(req));
    if (!f) return undefined;
    f.fired = (f.fired ?? 0) + 1;
    return f.action;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const action = this.take(req);
    if (action === "drop") {
      req.socket.destroy();
      return;
    }
    if (action === "503") {
      req.resume();
      req.on("end", () => {
        res.writeHead(503, { "content-type": "application/xml" });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        );
      });
      return;
    }
    const target = new URL(req.url ?? "/", this.upstream);
    const upstreamReq = http.request(
      target,
      { method: req.method, headers: req.headers, agent: this.agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (action && typeof action === "object") {
          let sent = 0;
          upstreamRes.on("data", (chunk: Buffer) => {
            const room = action.cutResponseAfter - sent;
            if (room <= 0) return;
            res.write(chunk.subarray(0, room));
            sent += Math.min(room, chunk.length);
            if (sent >= action.cutResponseAfter) {
              upstreamRes.destroy();
              // give the written bytes a moment to leave, then reset
              setTimeout(() => res.socket?.destroy(), 20);
            }
          });
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on("error", () => res.socket?.destroy());
    req.pipe(upstreamReq);
  }
}

export const isDataPut = (req: http.IncomingMessage) =>
  req.method === "PUT" && /\.tar\.zst(\?|$)/.test(req.url ?? "");
export const isDataGet = (req: http.IncomingMessage) =>
  req.method === "GET" && /\.tar\.zst(\?|$)/.test(req.url ?? "");
export const isCompleteMultipart = (req: http.IncomingMessage) =>
  req.method === "POST" && /\.tar\.zst\?uploadId=/.test(req.url ?? "");
