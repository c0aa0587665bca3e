import { describe, expect, it } from "vitest";
import { DaemonMetrics } from "../../src/observability/index.js";

describe("chunked archive metrics", () => {
  it("count bytes scanned, new and uploaded, and report the deduplication ratio", async () => {
    const metrics = new DaemonMetrics({ processMetrics: false });
    metrics.recordChunkedArchive("backup", {
      scannedBytes: 1000,
      newBytes: 100,
      uploadedBytes: 40,
    });
    metrics.recordChunkedArchive("backup", { scannedBytes: 500, newBytes: 0, uploadedBytes: 2 });
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'wsd_chunked_archive_bytes_total{operation="backup",kind="scanned"} 1500',
    );
    expect(text).toContain('wsd_chunked_archive_bytes_total{operation="backup",kind="new"} 100');
    expect(text).toContain(
      'wsd_chunked_archive_bytes_total{operation="backup",kind="uploaded"} 42',
    );
    expect(text).toContain('wsd_chunked_dedup_ratio{operation="backup"} 500');
  });

  it("count bytes skipped (unchanged files not read) and include them in the ratio", async () => {
    const metrics = new DaemonMetrics({ processMetrics: false });
    metrics.recordChunkedArchive("backup", {
      scannedBytes: 100,
      skippedBytes: 900,
      newBytes: 10,
      uploadedBytes: 5,
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'wsd_chunked_archive_bytes_total{operation="backup",kind="skipped"} 900',
    );
    expect(text).toContain('wsd_chunked_dedup_ratio{operation="backup"} 100');
  });
});
