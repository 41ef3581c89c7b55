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

/** Lay out `nodes` and `edges` left to right (cached by shape). */
export function layoutGraph(nodes: GraphNode[], edges: GraphEdge[]): Layout {
  const key = JSON.stringify([nodes.map((n) => [n.id, n.label]), edges]);
  const hit = cache.get(key);
  if (hit) return hit;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 56, edgesep: 8, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    const width = Math.min(260, Math.max(96, n.label.length * CHAR_W + 36));
    g.setNode(n.id, { width, height: NODE_H });
  }
  edges.forEach((e, i) => g.setEdge(e.from, e.to, {}, `e${i}`));
  dagre.layout(g);
  const out: Layout = {
    nodes: nodes.map((n) => {
      const p = g.node(n.id);
      return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
    }),
    edges: edges.map((e, i) => ({
      ...e,
      points: (g.edge({ v: e.from, w: e.to, name: `e${i}` })?.points ?? [])
        .map((p: { x: number; y: number }) => ({ x: Math.round(p.x), y: Math.round(p.y) })),
    })),
    width: Math.ceil(g.graph().width ?? 0),
    height: Math.ceil(g.graph().height ?? 0),
  };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out;
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
