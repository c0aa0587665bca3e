/**
 * wsdctl in the daemon's image (`/opt/ws-daemon/dist/wsdctl.js`, on the PATH as `wsdctl`): the
 * operator CLI of @ws-daemon/cli, bundled like the daemon so the image needs no node_modules.
 * Inside a workspace container `wsdctl iws ...` calls the in-workspace API through the mounted
 * socket (/.workspace/daemon.sock by default).
 */
import { main } from "@ws-daemon/cli";

void main();
