import { once } from "node:events";
import net from "node:net";

/** A TCP port that was free a moment ago on `host` (for servers that cannot pick one themselves). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, host);
  await once(srv, "listening");
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, "close");
  return port;
}
