import type { ImportEdge } from "./import-graph.js";

/**
 * The daemon's layers, bottom up (ARCHITECTURE.md draws them). A folder may import folders of a
 * lower rank and, within its rank, sibling folders without making a cycle; any import that
 * crosses into another folder goes through that folder's index.ts. Files directly in src/ are the
 * composition root and may import everything (through index.ts too).
 */
export const RANKS: Record<string, number> = {
  platform: 0,
  // generated protobuf code (src/gen/cri: our CRI v1 subset); imports nothing of the daemon
  gen: 0,
  observability: 1,
  config: 1,
  archive: 1,
  chunks: 1,
  storage: 1,
  git: 1,
  quota: 1,
  runtime: 1,
  linux: 1,
  content: 1,
  readiness: 1,
  watch: 1,
  rpc: 2,
  transport: 3,
  cli: 3,
  wiring: 4,
  "(root)": 4,
};

export const folderOf = (file: string): string =>
  file.includes("/") ? (file.split("/")[0] as string) : "(root)";

/**
 * A folder's public surface is its index.ts. Generated code has no hand-written index (the
 * generator owns the folder): there each generated message file is the surface.
 */
const isPublicSurface = (target: string, folder: string): boolean =>
  target === `${folder}/index.ts` || (folder === "gen" && target.endsWith("_pb.ts"));

/** Every rule an edge breaks, as readable lines. */
export function layerViolations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  const siblingGraph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    const ra = RANKS[a];
    const rb = RANKS[b];
    if (ra === undefined || rb === undefined) {
      out.push(`${from} -> ${to}: folder ${ra === undefined ? a : b} has no layer in RANKS`);
      continue;
    }
    if (rb > ra)
      out.push(`${from} -> ${to}: ${a} (layer ${ra}) imports ${b} (layer ${rb}) above it`);
    if (!isPublicSurface(to, b))
      out.push(`${from} -> ${to}: enters ${b} other than through ${b}/index.ts`);
    if (ra === rb) {
      const targets = siblingGraph.get(a) ?? new Set<string>();
      targets.add(b);
      siblingGraph.set(a, targets);
    }
  }
  for (const cycle of cycles(siblingGraph)) out.push(`dependency cycle: ${cycle.join(" -> ")}`);
  return out;
}

/** Each elementary cycle once, found by a depth-first walk from every node. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const found = new Map<string, string[]>();
  const walk = (start: string, node: string, path: string[]) => {
    for (const next of graph.get(node) ?? []) {
      if (next === start) {
        const cycle = [...path, start];
        const key = [...path].sort().join(",");
        if (!found.has(key)) found.set(key, cycle);
      } else if (!path.includes(next) && next > start) {
        walk(start, next, [...path, next]);
      }
    }
  };
  for (const node of graph.keys()) walk(node, node, [node]);
  return [...found.values()];
}
