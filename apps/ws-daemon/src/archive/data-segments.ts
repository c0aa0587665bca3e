import { spawnSync } from "node:child_process";
import type { Stats } from "node:fs";
import { MAX_SPARSE_SEGMENTS, type Segment } from "./sparse-map.js";

/**
 * Files this small are never probed for holes: restoring one without its holes allocates at most
 * one block more, and inline-data files (ext4, btrfs) report fewer blocks than their size.
 */
const PROBE_MIN_BYTES = 4096;

/** Whether `st` describes a file with holes: fewer blocks allocated than its size needs. */
export const mayHaveHoles = (st: Stats): boolean =>
  st.size > PROBE_MIN_BYTES && st.blocks * 512 < st.size;

/**
 * Node has no lseek, so SEEK_DATA/SEEK_HOLE run in perl (part of every Debian system, and git
 * depends on it), on the very file the caller opened: its descriptor is perl's stdin, so nothing
 * is looked up by name again. Prints "start end" per data segment; after `max` segments the rest
 * of the file is one segment. Exit 3 if the file system answered anything but ENXIO (no more
 * data): the caller then reads the whole file rather than take a failure for a hole.
 */
const PROBE = `
my ($end, $max) = @ARGV; my ($p, $n) = (0, 0);
while ($p < $end) {
  my $d = sysseek(STDIN, $p, 3);
  unless (defined $d) { exit($!{ENXIO} ? 0 : 3) }
  $d += 0; last if $d >= $end;
  my $h = ++$n >= $max ? $end : sysseek(STDIN, $d, 4);
  exit 3 unless defined $h;
  $h += 0; $h = $end if $h > $end;
  print "$d $h\\n"; $p = $h;
}`;

/**
 * The data segments of the open file `fd` of `size` bytes, in order; undefined if they cannot be
 * found (the caller then archives the file whole, holes read as zeros). One short process per
 * file with holes (about 7 ms): files without holes never get here.
 */
export function dataSegments(fd: number, size: number): Segment[] | undefined {
  const run = spawnSync("perl", ["-e", PROBE, String(size), String(MAX_SPARSE_SEGMENTS)], {
    stdio: [fd, "pipe", "pipe"],
    encoding: "latin1",
    maxBuffer: 8 * 1024 * 1024,
    timeout: 60_000,
  });
  if (run.status !== 0 || typeof run.stdout !== "string") return undefined;
  const segments: Segment[] = [];
  let end = 0;
  for (const line of run.stdout.split("\n")) {
    if (line === "") continue;
    const match = /^(\d{1,16}) (\d{1,16})$/.exec(line);
    const start = Number(match?.[1]);
    const stop = Number(match?.[2]);
    if (!match || start < end || stop <= start || stop > size) return undefined;
    segments.push({ offset: start, size: stop - start });
    end = stop;
  }
  return segments;
}
