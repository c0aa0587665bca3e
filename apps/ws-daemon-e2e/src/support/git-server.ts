import { type StartedNetwork, type StartedTestContainer, Wait } from "testcontainers";
import { execOk, labelledContainer } from "./containers.js";

export const GIT_USER = "e2e-user";
export const GIT_PASSWORD = "s3cr3t-e2e-password";

/**
 * A Smart-HTTP git server: git's own CGI program (git-http-backend) behind a few lines of Node
 * that demand HTTP basic auth. Runs in the daemon image, which is the only local image with git.
 */
const server = `
const http = require("node:http");
const { spawn } = require("node:child_process");
const expected = "Basic " + Buffer.from(process.env.GIT_USER + ":" + process.env.GIT_PASSWORD).toString("base64");
let denied = 0;
http.createServer((req, res) => {
  const url = new URL(req.url, "http://git");
  if (url.pathname === "/_denied") return res.end(String(denied));
  if (req.headers.authorization !== expected) {
    denied++;
    res.writeHead(401, { "WWW-Authenticate": 'Basic realm="e2e"' });
    return res.end("unauthorized");
  }
  const cgi = spawn("/usr/lib/git-core/git-http-backend", [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: "/srv/git",
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method,
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] || "",
      HTTP_CONTENT_ENCODING: req.headers["content-encoding"] || "",
      GIT_PROTOCOL: req.headers["git-protocol"] || "",
      REMOTE_USER: process.env.GIT_USER,
      REMOTE_ADDR: req.socket.remoteAddress || "",
    },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headDone = false;
  cgi.stdout.on("data", (chunk) => {
    if (headDone) return res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\\r\\n\\r\\n");
    if (end === -1) return;
    headDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\\r\\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  cgi.stderr.pipe(process.stderr);
  cgi.on("close", () => res.end());
}).listen(8080, () => console.log("git server ready"));
process.on("SIGTERM", () => process.exit(0));
`;

/**
 * Shell that creates /srv/git/project.git: two commits on main (a file in a subdirectory, an
 * executable, a symlink) and a branch "feature" with one more. Needs git (the daemon image).
 */
export const createRepository = `
set -e
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.invalid GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.invalid
git init -q -b main /tmp/work && cd /tmp/work
printf 'hello from the git server\\n' > README.md
mkdir -p src && printf 'console.log(1)\\n' > src/index.js
git add -A && git commit -q -m first
printf '#!/bin/sh\\necho run\\n' > run.sh && chmod +x run.sh && ln -s README.md readme-link
git add -A && git commit -q -m second
git checkout -q -b feature && printf 'feature\\n' > feature.txt && git add -A && git commit -q -m feature
git checkout -q main
mkdir -p /srv/git && git clone -q --bare /tmp/work /srv/git/project.git
`;

export interface GitServer {
  container: StartedTestContainer;
  /** The repository URL as containers on the network see it. */
  repoUrl: string;
  /** The commit a ref points to in the served repository. */
  revParse(ref: string): Promise<string>;
  /** How many requests the server refused for missing or wrong credentials. */
  deniedRequests(): Promise<number>;
}

export async function startGitServer(image: string, network: StartedNetwork): Promise<GitServer> {
  const container = await labelledContainer(image)
    .withNetwork(network)
    .withNetworkAliases("git")
    .withEnvironment({ GIT_USER, GIT_PASSWORD })
    .withEntrypoint([
      "sh",
      "-c",
      `${createRepository}\nexec node -e '${server.replaceAll("'", "'\\''")}'`,
    ])
    .withWaitStrategy(Wait.forLogMessage("git server ready"))
    .withStartupTimeout(60_000)
    .start();
  return {
    container,
    repoUrl: "http://git:8080/project.git",
    revParse: async (ref) =>
      (await execOk(container, ["git", "-C", "/srv/git/project.git", "rev-parse", ref])).trim(),
    deniedRequests: async () =>
      Number(
        await execOk(container, [
          "node",
          "-e",
          'fetch("http://127.0.0.1:8080/_denied").then((r) => r.text()).then((t) => process.stdout.write(t))',
        ]),
      ),
  };
}
