import { Writable } from "node:stream";

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};

/** Fields every line carries that the readable form leaves out or shows elsewhere. */
const OMITTED = new Set(["level", "time", "msg", "service", "pid", "hostname", "err"]);

const show = (value: unknown): string =>
  typeof value === "string" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);

/** One pino JSON line as `12:00:01.234 INFO  message key=value ...` plus an error's stack. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === "string" ? entry.time.slice(11, 23) : "";
  const level = LEVELS[Number(entry.level)] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(" ");
  const err = entry.err as { stack?: unknown; message?: unknown } | undefined;
  const stack = err ? `\n    ${String(err.stack ?? err.message).replaceAll("\n", "\n    ")}` : "";
  return `${time} ${level} ${String(entry.msg ?? "")}${fields ? ` ${fields}` : ""}${stack}`;
}

/** A stream for pino that writes readable lines to `out` (a terminal). */
export function prettyLogStream(out: NodeJS.WritableStream): Writable {
  let pending = "";
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line) out.write(`${prettyLine(line)}\n`);
      done();
    },
    final(done) {
      if (pending) out.write(`${prettyLine(pending)}\n`);
      done();
    },
  });
}
