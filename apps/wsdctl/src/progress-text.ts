import { stateName, type WorkspaceEvent, type WorkspaceProgress } from "@ws-daemon/api";
import { formatBytes, formatDuration } from "./format.js";

const BAR_WIDTH = 20;

/** `[██████░░░░]`: the done share of a phase with a known total. */
export function bar(fraction: number, width = BAR_WIDTH): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}]`;
}

/** `init restoring (backup) 40% 412 MiB/1.0 GiB, 3/7 files, 95 MiB/s, 6.0s left`. */
export function describeProgress(p: WorkspaceProgress, withBar: boolean): string {
  const parts = [`${p.operationName} ${p.phaseName}`];
  const about = [p.initializer, p.detail === p.initializer ? "" : p.detail].filter(Boolean);
  if (about.length > 0) parts[0] += ` (${about.join(": ")})`;
  if (p.fraction !== undefined) {
    parts.push(`${withBar ? `${bar(p.fraction)} ` : ""}${Math.floor(p.fraction * 100)}%`);
  }
  const figures: string[] = [];
  if (p.bytesTotal !== undefined) {
    figures.push(`${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`);
  } else if (p.bytesDone > 0) figures.push(formatBytes(p.bytesDone));
  if (p.filesTotal !== undefined) figures.push(`${p.filesDone}/${p.filesTotal} files`);
  if (p.bytesPerSecond > 0) figures.push(`${formatBytes(p.bytesPerSecond)}/s`);
  if (p.etaMs !== undefined) figures.push(`${formatDuration(p.etaMs)} left`);
  return [parts.join(" "), ...figures].join(", ");
}

/** One line for an event that is not progress (state changes, starts, ends, the snapshot). */
export function describeEvent(id: string, e: WorkspaceEvent): string | undefined {
  switch (e.type) {
    case "snapshot": {
      const running = e.progress ? `, running: ${describeProgress(e.progress, false)}` : "";
      return `${id}: ${stateName(e.workspace.state)}${running}`;
    }
    case "state":
      if (e.removed) return `${id}: removed`;
      return `${id}: ${stateName(e.from)} -> ${stateName(e.to)}${e.error ? ` (${e.error})` : ""}`;
    case "started":
      return `${id}: ${e.operationName} started`;
    case "finished":
      return e.ok
        ? `${id}: ${e.operationName} done in ${formatDuration(e.elapsedMs)}${e.url ? `: ${e.url}` : ""}`
        : `${id}: ${e.operationName} failed: ${e.codeName}: ${e.message}`;
    case "progress":
      return undefined;
  }
  return undefined;
}
