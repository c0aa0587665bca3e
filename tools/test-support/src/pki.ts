import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface KeyPair {
  cert: string;
  key: string;
}

/** Paths of a key pair's PEM files. */
export interface KeyPairFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  /** The directory holding every PEM file (removed by cleanup). */
  dir: string;
  /** The same material as files, for servers configured by path. */
  files: { ca: string; server: KeyPairFiles; client: KeyPairFiles };
  /** The CA that signed `server` and `client`. */
  ca: string;
  /** A second, unrelated CA: trusting only this one must make TLS fail. */
  otherCa: string;
  /** Valid for 127.0.0.1 and localhost, extendedKeyUsage serverAuth. */
  server: KeyPair;
  /** extendedKeyUsage clientAuth, CN=test-client. */
  client: KeyPair;
  /** Signed by otherCa: a client the server must refuse under mutual TLS. */
  strangerClient: KeyPair;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  extensions: string,
): Promise<KeyPair> {
  await openssl(
    dir,
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    // A serial file per leaf: leaves of one CA are signed in parallel.
    "-CAserial",
    `${name}.srl`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
  return {
    cert: await readFile(join(dir, `${name}.crt`), "utf8"),
    key: await readFile(join(dir, `${name}.key`), "utf8"),
  };
}

/**
 * Creates a throwaway PKI with the openssl CLI (EC P-256, valid two days), so no certificate is
 * committed to the repository.
 */
export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "wsd-api-pki-"));
  try {
    await Promise.all([makeCa(dir, "test-ca"), makeCa(dir, "other-ca")]);
    const [server, client, strangerClient] = await Promise.all([
      makeLeaf(
        dir,
        "test-server",
        "test-ca",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
      ),
      makeLeaf(dir, "test-client", "test-ca", "extendedKeyUsage=clientAuth\n"),
      makeLeaf(dir, "stranger-client", "other-ca", "extendedKeyUsage=clientAuth\n"),
    ]);
    const pair = (name: string) => ({
      cert: join(dir, `${name}.crt`),
      key: join(dir, `${name}.key`),
    });
    return {
      dir,
      files: {
        ca: join(dir, "test-ca.crt"),
        server: pair("test-server"),
        client: pair("test-client"),
      },
      ca: await readFile(join(dir, "test-ca.crt"), "utf8"),
      otherCa: await readFile(join(dir, "other-ca.crt"), "utf8"),
      server,
      client,
      strangerClient,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
