/**
 * DAG layout for `flowyml ui`: a run's steps and the artifacts flowing
 * between them, laid out left to right by `@dagrejs/dagre` in the server.
 * Layouts depend only on the graph's shape, so they are cached by shape: a
 * live run is laid out once, however often its statuses change.
 * @module
 */
import dagre from "@dagrejs/dagre";
import type { LineageEdge, StepRunRecord } from "../../kernel/records.ts";
import type { StepShape } from "../../kernel/pipeline_shape.ts";

/** A node to lay out. */
export interface GraphNode {
  /** Unique id. */
  id: string;
  /** Text shown in the node. */
  label: string;
}

/** A directed edge to lay out. */
export interface GraphEdge {
  /** Source node id. */
  from: string;
  /** Target node id. */
  to: string;
  /** Text on the edge, e.g. the artifact name. */
  label?: string;
}

/** A laid-out node: centre `x`, `y` and size. */
export interface PlacedNode extends GraphNode {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A laid-out edge with its polyline. */
export interface PlacedEdge extends GraphEdge {
  points: { x: number; y: number }[];
  /** Implied by a longer path and drawn straight (large graphs only). */
  implied?: boolean;
}

/** A laid-out graph. */
export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

const NODE_H = 44;
const CHAR_W = 7.2;
const cache = new Map<string, Layout>();
const CACHE_MAX = 64;

/** Graphs with more nodes than this are laid out in the fast mode (see {@linkcode layoutGraph}). */
export const LARGE_GRAPH = 150;

/**
 * Lay out `nodes` and `edges` left to right (cached by shape). Graphs over
 * {@linkcode LARGE_GRAPH} nodes use a fast mode so a 500-step run stays
 * within the page budget: dagre ranks by longest path (not network simplex)
 * and lays out the transitive reduction; edges implied by longer paths are
 * then drawn straight (`implied: true`).
 */
export function layoutGraph(nodes: GraphNode[], edges: GraphEdge[]): Layout {
  const key = JSON.stringify([nodes.map((n) => [n.id, n.label]), edges]);
  const hit = cache.get(key);
  if (hit) return hit;
  const large = nodes.length > LARGE_GRAPH;
  const g = new dagre.graphlib.Graph(); // one route per node pair (a multigraph is slower)
  g.setGraph({
    rankdir: "LR",
    nodesep: 18,
    ranksep: 56,
    edgesep: 8,
    marginx: 12,
    marginy: 12,
    ...(large ? { ranker: "longest-path" } : {}),
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    const width = Math.min(260, Math.max(96, n.label.length * CHAR_W + 36));
    g.setNode(n.id, { width, height: NODE_H });
  }
  const laid = large ? transitiveReduction(nodes, edges) : new Set(edges.keys());
  edges.forEach((e, i) => laid.has(i) && g.setEdge(e.from, e.to, {}));
  dagre.layout(g);
  const placed = nodes.map((n) => {
    const p = g.node(n.id);
    return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
  });
  const at = new Map(placed.map((n) => [n.id, n]));
  const out: Layout = {
    nodes: placed,
    edges: edges.map((e, i) => {
      if (!laid.has(i)) {
        const a = at.get(e.from)!, b = at.get(e.to)!;
        const points = [{ x: a.x + a.width / 2, y: a.y }, { x: b.x - b.width / 2, y: b.y }];
        return { ...e, implied: true, points: points.map(round) };
      }
      const pts = g.edge(e.from, e.to)?.points ?? [];
      return { ...e, points: pts.map(round) };
    }),
    width: Math.ceil(g.graph().width ?? 0),
    height: Math.ceil(g.graph().height ?? 0),
  };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out;
}

function round(p: { x: number; y: number }): { x: number; y: number } {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}

/**
 * Indexes of the edges not implied by a longer path (the transitive
 * reduction of a DAG), from reachability bitsets in reverse topological
 * order. Edges of a cycle or a duplicate pair are all kept.
 */
export function transitiveReduction(nodes: GraphNode[], edges: GraphEdge[]): Set<number> {
  const idx = new Map(nodes.map((n, i) => [n.id, i]));
  const out: number[][] = nodes.map(() => []);
  const indeg = new Array(nodes.length).fill(0);
  for (const e of edges) {
    const a = idx.get(e.from), b = idx.get(e.to);
    if (a === undefined || b === undefined) continue;
    out[a].push(b);
    indeg[b]++;
  }
  const order: number[] = [];
  const queue = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  while (queue.length) {
    const v = queue.pop()!;
    order.push(v);
    for (const w of out[v]) if (--indeg[w] === 0) queue.push(w);
  }
  if (order.length < nodes.length) return new Set(edges.keys()); // a cycle: keep everything
  const words = Math.ceil(nodes.length / 32);
  const reach = nodes.map(() => new Uint32Array(words)); // nodes reachable by a path of ≥ 1 edge
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k];
    for (const w of out[v]) {
      reach[v][w >> 5] |= 1 << (w & 31);
      for (let i = 0; i < words; i++) reach[v][i] |= reach[w][i];
    }
  }
  const keep = new Set<number>();
  edges.forEach((e, i) => {
    const a = idx.get(e.from), b = idx.get(e.to);
    if (a === undefined || b === undefined) return;
    // implied when another direct successor of `a` reaches `b`
    const implied = out[a].some((w) => w !== b && (reach[w][b >> 5] & (1 << (b & 31))) !== 0);
    if (!implied) keep.add(i);
  });
  return keep;
}

/**
 * A run's step graph: from the pipeline shape recorded at run start (pending
 * steps included), else from the run's lineage (a producer's output hash
 * consumed by another step). Steps recorded but missing from both are added.
 */
export function runGraph(
  shape: StepShape[] | undefined,
  lineage: LineageEdge[],
  steps: StepRunRecord[],
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const names: string[] = [];
  const seen = new Set<string>();
  const add = (n: string) => {
    if (!seen.has(n)) seen.add(n), names.push(n);
  };
  const edges: GraphEdge[] = [];
  if (shape) {
    const producer = new Map<string, string>();
    for (const s of shape) {
      add(s.name);
      for (const o of s.outputs) producer.set(o, s.name);
    }
    for (const s of shape) {
      for (const i of s.inputs) {
        const p = producer.get(i);
        if (p) edges.push({ from: p, to: s.name, label: i });
      }
    }
  } else {
    const byHash = new Map<string, string>();
    for (const e of lineage) if (e.direction === "output") byHash.set(e.hash, e.step);
    for (const e of lineage) {
      add(e.step);
      const p = e.direction === "input" ? byHash.get(e.hash) : undefined;
      if (p && p !== e.step) edges.push({ from: p, to: e.step, label: e.name });
    }
  }
  for (const s of steps) add(s.step);
  return { nodes: names.map((n) => ({ id: n, label: n })), edges };
}
