// flowyml ui: the DAG (laid out by dagre on the server), the Gantt timeline, the histogram and
// tables. SVG text is set as text nodes by Preact: names from the store never become markup.
import { html, useState } from "./vendor/htm_preact.js";
import { href, ms } from "./core.js";

/** A status as a coloured badge. */
export function Badge({ status, cached }) {
  const s = cached && status !== "running" ? "cached" : status;
  return html`<span class=${`badge st-${s}`} data-status=${s}>${s}</span>`;
}

function path(points) {
  return points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
}

/** The run's DAG: nodes coloured by status; cache hits, retries and the worker marked. */
export function Dag({ dag, steps, runId, selected }) {
  const [zoom, setZoom] = useState(1);
  const byName = new Map(steps.map((s) => [s.step, s]));
  const w = Math.max(dag.width, 200), h = Math.max(dag.height, 60);
  return html`
    <div class="dag-tools">
      <button onClick=${() => setZoom(zoom / 1.25)}>−</button>
      <button onClick=${() => setZoom(1)}>${Math.round(zoom * 100)}%</button>
      <button onClick=${() => setZoom(zoom * 1.25)}>+</button>
      <span class="legend">${[
        "pending",
        "running",
        "completed",
        "cached",
        "failed",
        "skipped",
        "cancelled",
      ].map((s) => html`<span class=${`badge st-${s}`}>${s}</span>`)}</span>
    </div>
    <div class="dag-wrap" data-testid="dag">
      <svg width=${w * zoom} height=${h * zoom} viewBox=${`0 0 ${w} ${h}`}>
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6"
          markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" /></marker></defs>
        ${dag.edges.map((e) =>
          html`
            <path class=${e.implied ? "edge implied" : "edge"} d=${path(
              e.points,
            )} marker-end="url(#arrow)">
              <title>${e.label ?? ""}</title>
            </path>
          `
        )}
        ${dag.nodes.map((n) => {
          const s = byName.get(n.id);
          const status = s ? (s.cached ? "cached" : s.status) : "pending";
          const sub = [
            s?.worker,
            s?.attempts > 1 ? `${s.attempts} attempts` : "",
            s?.durationMs !== undefined ? ms(s.durationMs) : "",
          ].filter(Boolean).join(" · ");
          return html`<a href=${href(["step", runId, n.id])}>
            <g class=${`node st-${status}${selected === n.id ? " selected" : ""}`}
              data-step=${n.id} data-status=${status}
              transform=${`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}>
              <rect width=${n.width} height=${n.height} rx="6" />
              <text x="8" y="17" class="name">${
            n.label.length > 34 ? n.label.slice(0, 33) + "…" : n.label
          }</text>
              <text x="8" y="34" class="sub">${sub}</text>
              ${
            s?.cached
              ? html`<text x=${n.width - 8} y="17" class="mark" text-anchor="end">⚡</text>`
              : ""
          }
              ${
            s?.attempts > 1
              ? html`<text x=${
                n.width - 8
              } y="34" class="mark" text-anchor="end">↻${s.attempts}</text>`
              : ""
          }
              <title>${`${n.id}: ${status}${s?.worker ? ` on ${s.worker}` : ""}`}</title>
            </g></a>`;
        })}
      </svg>
    </div>
  `;
}

/** A Gantt chart of the steps' start and end times. */
export function Gantt({ steps, run }) {
  const timed = steps.filter((s) => s.startedAt);
  if (!timed.length) return html`<p class="muted">no step has started yet</p>`;
  const t0 = Math.min(run.startedAt, ...timed.map((s) => s.startedAt));
  const now = Date.now();
  const t1 = Math.max(...timed.map((s) => s.endedAt ?? (run.endedAt ?? now)), t0 + 1);
  const span = t1 - t0;
  return html`<div class="gantt" data-testid="gantt">
    ${
    timed.map((s) => {
      const end = s.endedAt ?? run.endedAt ?? now;
      const left = ((s.startedAt - t0) / span) * 100;
      const width = Math.max(0.4, ((end - s.startedAt) / span) * 100);
      const st = s.cached ? "cached" : s.status;
      return html`
        <div class="gantt-row">
          <span class="gantt-label" title=${s.step}>${s.step}</span>
          <span class="gantt-track"><span class=${`gantt-bar st-${st}`}
                  style=${{ left: `${left}%`, width: `${width}%` }} title=${`${s.step}: ${
                    ms(end - s.startedAt)
                  }`}></span></span>
          <span class="gantt-dur">${ms(s.durationMs ?? end - s.startedAt)}</span>
        </div>
      `;
    })
  }
    <div class="gantt-axis muted small"><span>0</span><span>${ms(span)}</span></div>
  </div>`;
}

/** Bars of a histogram. */
export function Histogram({ histogram }) {
  const max = Math.max(1, ...histogram.counts);
  const n = histogram.counts.length;
  return html`
    <svg class="histogram" data-testid="histogram" viewBox=${`0 0 ${n * 12} 100`}
      preserveAspectRatio="none" width="480" height="120">
        ${histogram.counts.map((c, i) =>
          html`
            <rect x=${i * 12 + 1} y=${100 - (c / max) * 100} width="10" height=${(c / max) * 100}>
              <title>${`${c}`}</title>
            </rect>
          `
        )}
      </svg>
    <div class="muted small">${histogram.min.toPrecision(4)} … ${histogram.max.toPrecision(4)}</div>
  `;
}

/** A plain table of text cells. */
export function Table({ head, rows, testid }) {
  return html`
    <table data-testid=${testid}>
      <thead>
        <tr>${head.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
      <tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody>
    </table>
  `;
}

/** A small graph (lineage), with nodes linking to their pages. */
export function Graph({ graph, center }) {
  const w = Math.max(graph.width, 200), h = Math.max(graph.height, 60);
  return html`
    <div class="dag-wrap" data-testid="lineage-graph">
      <svg width=${w} height=${h} viewBox=${`0 0 ${w} ${h}`}>
          <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6"
            markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" /></marker></defs>
          ${graph.edges.map((e) =>
            html`<path class="edge" d=${path(e.points)} marker-end="url(#arrow)" />`
          )}
          ${graph.nodes.map((n) => {
            const link = n.kind === "artifact"
              ? href(["artifact", n.ref.hash])
              : href(["step", n.ref.runId, n.ref.step]);
            const cls = `node ${n.kind === "artifact" ? "artifact" : "st-completed"}${
              n.id === center ? " selected" : ""
            }`;
            return html`<a href=${link} data-kind=${n.kind}>
          <g class=${cls} transform=${`translate(${n.x - n.width / 2},${n.y - n.height / 2})`}>
            <rect width=${n.width} height=${n.height} rx=${n.kind === "artifact" ? 18 : 6} />
            <text x="10" y="26" class="name">${n.label}</text>
          </g></a>`;
          })}
        </svg>
    </div>
  `;
}
