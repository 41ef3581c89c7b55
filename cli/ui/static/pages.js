// flowyml ui: the Runs, Run, Step and Artifact pages.
import { html, useEffect, useState } from "./vendor/htm_preact.js";
import { act, bytes, href, Loading, ms, show, useApi, when } from "./core.js";
import { Badge, Dag, Gantt, Graph, Histogram, Table } from "./widgets.js";

const STATUSES = ["", "running", "completed", "failed", "cancelled", "crashed"];

function go(params) {
  location.hash = href(["runs"], params);
}

function RunFilters({ f, d, picked }) {
  const set = (k) => (e) => go({ ...f, [k]: e.target.value, page: "" });
  const submit = (e) => (e.preventDefault(), go({ ...f, q: e.target.q.value, page: "" }));
  const pipelines = d?.pipelines ?? (f.pipeline ? [f.pipeline] : []);
  const compare = href(["compare"], { runs: picked.join(",") });
  return html`<form class="filters" onSubmit=${submit}>
    <select name="pipeline" data-testid="filter-pipeline" value=${f.pipeline ?? ""} onChange=${
    set("pipeline")
  }>
      <option value="">all pipelines</option>
      ${pipelines.map((p) => html`<option value=${p}>${p}</option>`)}
    </select>
    <select name="status" data-testid="filter-status" value=${f.status ?? ""} onChange=${
    set("status")
  }>
      ${STATUSES.map((s) => html`<option value=${s}>${s || "any status"}</option>`)}
    </select>
    <label>from <input type="date" data-testid="filter-from" value=${f.from ?? ""} onChange=${
    set("from")
  } /></label>
    <label>to <input type="date" data-testid="filter-to" value=${f.to ?? ""} onChange=${
    set("to")
  } /></label>
    <input name="q" data-testid="search" placeholder="run id or param" value=${f.q ?? ""} />
    <button type="submit">search</button>
    ${
    picked.length >= 2
      ? html`<a class="button" data-testid="compare-link" href=${compare}>compare ${picked.length}</a>`
      : ""
  }
  </form>`;
}

const RUN_COLUMNS = [
  "",
  "run",
  "pipeline",
  "status",
  "stack",
  "started",
  "took",
  "steps",
  "cache hits",
];

function RunRow({ r, picked, toggle }) {
  const c = r.counts;
  return html`
    <tr data-run=${r.runId}>
      <td><input type="checkbox" data-testid="pick" checked=${picked.includes(r.runId)}
          onChange=${() => toggle(r.runId)} /></td>
      <td><a href=${href(["run", r.runId])} class="mono">${r.runId}</a></td>
      <td>${r.pipeline}</td>
      <td>
        <${Badge} status=${r.status} />
      </td>
      <td>${r.stack}</td>
      <td>${when(r.startedAt)}</td>
      <td>${r.endedAt ? ms(r.endedAt - r.startedAt) : "…"}</td>
      <td>${c.completed + c.cached}/${c.total}${c.failed
        ? html`
          <span class="bad">${c.failed} failed</span>
        `
        : ""}</td>
      <td>${c.cached}</td>
    </tr>
  `;
}

/** Runs: filters, search and server-side pages. */
export function RunsPage({ params }) {
  const f = Object.fromEntries(params);
  const [picked, setPicked] = useState([]);
  const state = useApi(`/api/runs?${params}`);
  const d = state.data;
  const page = Number(f.page ?? 1);
  const pages = d ? Math.max(1, Math.ceil(d.total / d.size)) : 1;
  const toggle = (id) =>
    setPicked(picked.includes(id) ? picked.filter((x) => x !== id) : [...picked, id]);
  const table = d && html`
    <p class="muted small" data-testid="runs-total">${d.total} run(s)</p>
    <table data-testid="runs-table">
      <thead>
        <tr>${RUN_COLUMNS.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
      <tbody>${d.runs.map((r) =>
        html`<${RunRow} r=${r} picked=${picked} toggle=${toggle} />`
      )}</tbody>
    </table>
    <div class="pager">
      <button disabled=${page <= 1} onClick=${() => go({ ...f, page: page - 1 })}>‹ newer</button>
      <span data-testid="page">page ${page} of ${pages}</span>
      <button disabled=${page >= pages} onClick=${() =>
        go({ ...f, page: page + 1 })}>older ›</button>
    </div>
  `;
  return html`<h1>Runs</h1>
    <${RunFilters} f=${f} d=${d} picked=${picked} />
    ${table || html`<${Loading} state=${state} />`}`;
}

/** Live run payload from the server's event stream (no polling in the page). */
function useLiveRun(runId) {
  const [state, set] = useState({ loading: true });
  useEffect(() => {
    const es = new EventSource(`/api/run/${encodeURIComponent(runId)}/events`);
    es.addEventListener(
      "update",
      (e) => set((s) => ({ data: JSON.parse(e.data), updates: (s.updates ?? 0) + 1 })),
    );
    es.addEventListener("failure", (e) => set({ error: new Error(JSON.parse(e.data).error) }));
    es.onerror = () =>
      es.readyState === EventSource.CLOSED && set({ error: new Error("run not found") });
    return () => es.close();
  }, [runId]);
  return state;
}

function Actions({ d }) {
  const [msg, setMsg] = useState("");
  const resumable = ["failed", "cancelled", "crashed"].includes(d.run.status);
  if (!d.actions) {
    return html`<span class="muted small">read-only (start with --allow-actions to resume)</span>`;
  }
  if (!resumable) return "";
  const resume = () =>
    act(`/api/run/${encodeURIComponent(d.run.runId)}/resume`)
      .then((r) => setMsg(`resuming (pid ${r.pid})`), (e) => setMsg(e.message));
  return html`
    <button data-testid="resume" onClick=${resume}>resume</button> <span
      class="small">${msg}</span>
  `;
}

function Metrics({ metrics }) {
  if (!metrics.length) return html`<p class="muted">no metrics</p>`;
  return html`
    <${Table} testid="metrics" head=${["step", "metric", "value"]}
      rows=${metrics.map((m) => [m.step, m.name, String(m.value)])} />
  `;
}

/** Run: DAG, Gantt, params, error, metrics, artifacts; live while in flight. */
export function RunPage({ runId }) {
  const state = useLiveRun(runId);
  const d = state.data;
  if (!d) return html`<${Loading} state=${state} />`;
  const { run, steps } = d;
  const failed = steps.filter((s) => s.status === "failed");
  return html`
    <h1>Run <span class="mono">${run.runId}</span> <${Badge} status=${run.status} /></h1>
        <p class="muted">${run.pipeline} · stack ${run.stack} · started ${when(run.startedAt)} ·
          ${run.endedAt ? `took ${ms(run.endedAt - run.startedAt)}` : "in flight"}
          ${run.image ? ` · image ${run.image}` : ""} · <a href=${href(["audit"], {
            run: run.runId,
          })}>audit (${d.audit.total} calls, ${d.audit.denied} denied)</a>
          · <a href=${href(["compare"], { runs: run.runId })}>compare…</a></p>
        <${Actions} d=${d} />
        ${run.error
          ? html`<div class="error" data-testid="run-error"><b>error</b> <pre>${run.error}</pre>
      ${
            failed.map((s) =>
              s.errorStack
                ? html`
                  <details>
                    <summary>stack of ${s.step}</summary>
                    <pre>${s.errorStack}</pre>
                  </details>
                `
                : ""
            )
          }</div>`
          : ""}
        <h2>DAG</h2>
        <${Dag} dag=${d.dag} steps=${steps} runId=${run.runId} />
        <h2>Timeline</h2>
        <${Gantt} steps=${steps} run=${run} />
        <div class="cols">
      <section><h2>Params</h2>${Object.keys(run.params).length
        ? html`<${Table} testid="params" head=${["param", "value"]} rows=${
          Object.entries(run.params).map(([k, v]) => [k, show(v)])
        } />`
        : html`<p class="muted">none</p>`}</section>
      <section>
        <h2>Metrics</h2>
        <${Metrics} metrics=${d.metrics} />
      </section>
    </div>
        <h2>Artifacts</h2>
        <table data-testid="artifacts">
      <thead>
        <tr>
          <th>name</th>
          <th>step</th>
          <th>size</th>
          <th>serializer</th>
          <th>hash</th>
        </tr>
      </thead>
      <tbody>${d.artifacts.map((a) =>
        html`
          <tr>
            <td><a href=${href(["artifact", a.hash])}>${a.name}</a></td>
            <td>${a.step}</td>
            <td>${bytes(a.size)}</td>
            <td>${a.serializer}</td>
            <td class="mono">${a.hash.slice(0, 16)}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

function StepLogs({ lines }) {
  const [q, setQ] = useState("");
  if (!lines.length) return html`<p class="muted">no log lines recorded for this step</p>`;
  const shown = lines.filter((l) => !q || l.line.toLowerCase().includes(q.toLowerCase()));
  const attempts = [...new Set(lines.map((l) => l.attempt))];
  return html`
    <input placeholder="search logs" data-testid="log-search" value=${q}
      onInput=${(e) => setQ(e.target.value)} />
        ${attempts.map((a) =>
          html`
            <h3>attempt ${a}</h3>
            <pre class="logs" data-testid="logs">${shown.filter((l) => l.attempt === a).map((l) =>
              l.line
            ).join("\n")}</pre>
          `
        )}
  `;
}

function StepIO({ d, runId }) {
  const from = (i) =>
    i.producer
      ? html`
        from <a href=${href(["step", runId, i.producer])}>${i.producer}</a>
      `
      : "";
  const none = html`<p class="muted">none</p>`;
  return html`
    <div class="cols">
      <section><h2>Inputs</h2>${d.inputs.length
        ? html`<ul>${
          d.inputs.map((i) =>
            html`<li><a href=${href(["artifact", i.hash])}>${i.name}</a>${from(i)}</li>`
          )
        }</ul>`
        : none}</section>
      <section><h2>Outputs</h2>${d.outputs.length
        ? html`<ul data-testid="outputs">${
          d.outputs.map((o) =>
            html`<li>
          <a href=${href(["artifact", o.hash])}>${o.name}</a>
          <span class="muted small">${bytes(o.size)} · ${o.serializer}</span></li>`
          )
        }</ul>`
        : none}</section>
    </div>
  `;
}

/** Step: status, error, logs (searchable, per attempt), metrics, inputs and outputs. */
export function StepPage({ runId, step }) {
  const state = useApi(`/api/step/${encodeURIComponent(runId)}/${encodeURIComponent(step)}`);
  const d = state.data;
  if (!d) return html`<${Loading} state=${state} />`;
  const s = d.step;
  const facts = [
    s.worker ? `worker ${s.worker}` : "",
    `${s.attempts} attempt(s)`,
    ms(s.durationMs),
    s.cached ? "served from the cache" : "",
    s.cacheKey ? `key ${s.cacheKey.slice(0, 12)}` : "",
  ].filter(Boolean).join(" · ");
  const stack = s.errorStack
    ? html`
      <details>
        <summary>stack</summary>
        <pre>${s.errorStack}</pre>
      </details>
    `
    : "";
  const calls = d.audit.map((
    e,
  ) => [e.op, e.resource, e.allowed ? "allowed" : "DENIED", e.detail ?? ""]);
  return html`
    <h1>Step <span data-testid="step-name">${s.step}</span> <${Badge} status=${s.status} cached=${s
      .cached} /></h1>
    <p class="muted">run <a href=${href(["run", runId])} class="mono">${runId}</a> · ${facts}</p>
    ${s.error ? html`<div class="error"><pre>${s.error}</pre>${stack}</div>` : ""}
    <${StepIO} d=${d} runId=${runId} />
    <h2>Metrics</h2><${Metrics} metrics=${d.metrics} />
    <h2>Logs</h2><${StepLogs} lines=${d.logs} />
    ${calls.length
      ? html`
        <h2>Brokered calls</h2>
        <${Table} head=${["op", "resource", "decision", "detail"]} rows=${calls} />
      `
      : ""}
  `;
}

function PreviewView({ p }) {
  if (!p) return html`<p class="muted">no stored record to preview</p>`;
  switch (p.kind) {
    case "table":
      return html`${
        p.title ? html`<h3>${p.title}</h3>` : ""
      }<p class="muted small">${p.rows.length} of ${p.totalRows} rows</p>
        <${Table} testid="preview-table" head=${p.columns} rows=${p.rows} />`;
    case "stats":
      return html`
        <div data-testid="preview-stats">
          <${Table} head=${["type", "count", "min", "max", "mean", "std", "NaN"]}
            rows=${[[
              p.type,
              ...["count", "min", "max", "mean", "std", "nan"].map((k) =>
                String(+p.stats[k].toPrecision(6))
              ),
            ]]} />
          <${Histogram} histogram=${p.histogram} />
        </div>
      `;
    case "json":
      return html`${p.tables.map((t) => html`<${PreviewView} p=${t} />`)}
        <pre class="json" data-testid="preview-json">${p.text}${p.truncated ? "\n…" : ""}</pre>`;
    case "text":
      return html`<pre data-testid="preview-text">${p.text}${p.truncated ? "\n…" : ""}</pre>`;
    case "bytes":
      return html`<div data-testid="preview-bytes">${
        p.note ? html`<p class="muted">${p.note}</p>` : ""
      }
        <pre>${p.hex}</pre><pre>${p.ascii}</pre></div>`;
    default:
      return html`<p class="error">${p.message ?? "no preview"}</p>`;
  }
}

/** Artifact: facts, lineage up and down across runs, preview and download. */
export function ArtifactPage({ hash }) {
  const state = useApi(`/api/artifact/${encodeURIComponent(hash)}`);
  const d = state.data;
  if (!d) return html`<${Loading} state=${state} />`;
  const a = d.records[0];
  const { producers, consumers } = d.lineage;
  // identical bytes under several names (e.g. model_2 and best_model) are one artifact
  const names = [...new Set([...d.records.map((r) => r.name), ...producers.map((e) => e.name)])];
  const facts = a
    ? html`
      <${Table} testid="artifact-facts" head=${["size", "serializer", "hash", "URI"]}
        rows=${[[bytes(a.size), `${a.serializer} v${a.serializerVersion}`, d.hash, a.uri]]} />
      <p><a class="button" data-testid="download" href=${`/api/artifact/${d.hash}/download`}>download</a></p>
    `
    : "";
  const step = (e) => html`<a href=${href(["step", e.runId, e.step])}>${e.step}</a>`;
  const run = (e) => html`<a class="mono" href=${href(["run", e.runId])}>${e.runId}</a>`;
  return html`
    <h1>Artifact <span data-testid="artifact-name">${names.join(" = ")}</span></h1>
    ${facts}
    <h2>Lineage</h2>
    <${Graph} graph=${d.lineage.graph} center=${`a:${d.hash}`} />
    <div class="cols">
      <section>
        <h3>produced by</h3>
        <ul data-testid="producers">${producers.map((e) =>
          html`<li>${step(e)} (as ${e.name}) in run ${run(e)}</li>`
        )}</ul>
      </section>
      <section>
        <h3>consumed by</h3>
        <ul data-testid="consumers">${consumers.map((e) =>
          html`<li>${step(e)} (as ${e.name}) in run ${run(e)}</li>`
        )}</ul>
      </section>
    </div>
    <h2>Preview</h2>
    <${PreviewView} p=${d.preview} />
  `;
}
