/**
 * `node dist/healthcheck.js [address]`: exits 0 when the daemon's grpc.health.v1 answers
 * SERVING, 1 otherwise. Used by the image's HEALTHCHECK; the address defaults to
 * WSD_HEALTHCHECK_ADDRESS or http://127.0.0.1:8080.
 */
import {
  createDaemonTransport,
  createHealthClient,
  HealthCheckResponse_ServingStatus,
} from "@ws-daemon/api";

const address = process.argv[2] ?? process.env.WSD_HEALTHCHECK_ADDRESS ?? "http://127.0.0.1:8080";
const client = createHealthClient(createDaemonTransport({ address, defaultTimeoutMs: 3000 }));
client.check({ service: "" }).then(
  (res) => {
    const serving = res.status === HealthCheckResponse_ServingStatus.SERVING;
    process.stdout.write(`${HealthCheckResponse_ServingStatus[res.status]}\n`);
    process.exit(serving ? 0 : 1);
  },
  (e: unknown) => {
    process.stderr.write(`health check failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
