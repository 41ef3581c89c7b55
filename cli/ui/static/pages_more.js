// flowyml ui: the Compare, Audit and Stacks pages.
import { html } from "./vendor/htm_preact.js";
import { href, Loading, ms, show, useApi, when } from "./core.js";
import { Badge, Table } from "./widgets.js";

function CompareSteps({ d, head }) {
  return html`
    <h2>Steps</h2>
    <p
      class="muted small">highlighted: the step's status or outputs (by content hash) differ between the runs; ⚡ a cache hit</p>
    <table data-testid="compare-steps">
      <thead>
        <tr>${head.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
      <tbody>
          ${d.steps.map((s) =>
            html`<tr class=${s.differs ? "differs" : ""} data-step=${s.step} data-differs=${
              String(s.differs)
            }>
        <td>${s.step}</td>${
              s.runs.map((r) =>
                html`<td>${
                  r
                    ? html`<${Badge} status=${r.status} cached=${r.cached} />${
                      r.cached ? " ⚡" : ""
                    } ${ms(r.durationMs)}`
                    : "—"
                }</td>`
              )
            }</tr>`
          )}
        </tbody>
    </table>
  `;
}

/** Compare: 2+ runs side by side (params, metrics, steps that differed or hit the cache). */
export function ComparePage({ params }) {
  const ids = (params.get("runs") ?? "").split(",").filter(Boolean);
  const state = useApi(`/api/compare?runs=${encodeURIComponent(ids.join(","))}`);
  const d = state.data;
  if (ids.length < 2) {
    return html`
      <h1>Compare</h1>
      <p>Pick two or more runs on the <a href="#/runs">runs page</a>.</p>
    `;
  }
  if (!d) return html`<${Loading} state=${state} />`;
  const head = ["", ...d.runs.map((r) => r.runId.slice(-8))];
  const row = (cls, cells) => html`<tr class=${cls}>${cells.map((c) => html`<td>${c}</td>`)}</tr>`;
  return html`
    <h1>Compare ${d.runs.length} runs</h1>
    <table data-testid="compare-runs">
      <thead>
        <tr>${head.map((h, i) =>
          html`<th>${
            i ? html`<a class="mono" href=${href(["run", d.runs[i - 1].runId])}>${h}</a>` : h
          }</th>`
        )}</tr>
      </thead>
      <tbody>
            ${row("", ["pipeline", ...d.runs.map((r) => r.pipeline)])}
            ${row("", ["status", ...d.runs.map((r) => html`<${Badge} status=${r.status} />`)])}
            ${row("", ["started", ...d.runs.map((r) => when(r.startedAt))])}
            ${row("", [
              "took",
              ...d.runs.map((r) => r.endedAt ? ms(r.endedAt - r.startedAt) : "…"),
            ])}
          </tbody>
    </table>
    <h2>Params</h2>
    <table data-testid="compare-params">
      <thead>
        <tr>${head.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
      <tbody>
          ${d.params.map((p) =>
            row(p.differs ? "differs" : "", [p.key, ...p.values.map((v) => v ?? "—")])
          )}</tbody>
    </table>
    <h2>Metrics</h2>
    <table data-testid="compare-metrics">
      <thead>
        <tr>${head.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
      <tbody>
          ${d.metrics.map((m) =>
            row(m.differs ? "differs" : "", [
              m.key,
              ...m.values.map((v) =>
                v === undefined || v === null ? "—" : String(+v.toPrecision(6))
              ),
            ])
          )}</tbody>
    </table>
    <${CompareSteps} d=${d} head=${head} />
  `;
}

/** Audit: every brokered plugin call, filterable. */
export function AuditPage({ params }) {
  const f = Object.fromEntries(params);
  const state = useApi(`/api/audit?${params}`);
  const d = state.data;
  const go = (next) => (location.hash = href(["audit"], { ...f, ...next, page: next.page ?? "" }));
  const sel = (k) => (e) => go({ [k]: e.target.value });
  const page = Number(f.page ?? 1);
  const pages = d ? Math.max(1, Math.ceil(d.total / d.size)) : 1;
  return html`
    <h1>Audit trail</h1>
        <p
      class="muted">Every call a sandboxed WASM plugin made through the broker: what it asked for, and
          whether its grants allowed it.</p>
        <form class="filters" onSubmit=${(e) => (e.preventDefault(), go({ q: e.target.q.value }))}>
      <input name="run" data-testid="audit-run" placeholder="run id" value=${f.run ?? ""}
        onChange=${sel("run")} />
      <select data-testid="audit-actor" value=${f.actor ?? ""}
        onChange=${sel("actor")}><option value="">any plugin</option>
            ${(d?.actors ?? []).map((a) => html`<option value=${a}>${a}</option>`)}</select>
      <select data-testid="audit-op" value=${f.op ?? ""}
        onChange=${sel("op")}><option value="">any operation</option>
            ${(d?.ops ?? []).map((a) => html`<option value=${a}>${a}</option>`)}</select>
      <select data-testid="audit-allowed" value=${f.allowed ?? ""} onChange=${sel("allowed")}>
            <option value="">allowed and denied</option><option value="allowed">allowed</option><option value="denied">denied</option></select>
      <input name="q" placeholder="resource or detail" value=${f.q ?? ""} />
      <button type="submit">filter</button>
    </form>
        ${!d ? html`<${Loading} state=${state} />` : html`
          <p
            data-testid="audit-summary"><b>${d.total}</b> call(s) · <span class=${d.denied
              ? "bad"
              : ""}>${d.denied} denied</span></p>
          <table data-testid="audit-table">
            <thead>
              <tr>
                <th>time</th>
                <th>run</th>
                <th>plugin</th>
                <th>decision</th>
                <th>op</th>
                <th>resource</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>${d.events.map((e) =>
              html`
                <tr class=${e.allowed ? "" : "denied"}>
                  <td class="small">${new Date(e.at).toISOString().slice(11, 23)}</td>
                  <td><a class="mono" href=${href(["run", e.runId])}>${e.runId.slice(-8)}</a></td>
                  <td>${e.actor}</td>
                  <td>${e.allowed
                    ? html`<span class="badge st-completed">allowed</span>`
                    : html`<span class="badge st-failed">DENIED</span>`}</td>
                  <td class="mono">${e.op}</td>
                  <td class="mono wrap">${e.resource}</td>
                  <td class="wrap">${e.detail ?? ""}</td>
                </tr>
              `
            )}</tbody>
          </table>
          <div class="pager">
            <button disabled=${page <= 1} onClick=${() => go({ page: page - 1 })}>‹</button>
            <span>page ${page} of ${pages}</span>
            <button disabled=${page >= pages} onClick=${() => go({ page: page + 1 })}>›</button>
          </div>
        `}
  `;
}

function perms(p) {
  const parts = Object.entries(p ?? {}).filter(([, v]) => (Array.isArray(v) ? v.length : v))
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : show(v)}`);
  return parts.join("; ") || "none";
}

/** Stacks and components: what is registered, where it came from, its pin and permissions. */
export function StacksPage() {
  const state = useApi("/api/stacks");
  const d = state.data;
  if (!d) return html`<${Loading} state=${state} />`;
  return html`
    <h1>Stacks</h1>
        ${d.stacks.map((s) =>
          html`<section class="stack" data-testid="stack">
      <h2>${s.name}${s.current ? " (shown)" : ""}${s.default ? " · default" : ""}</h2>
      ${
            s.error ? html`<p class="error">${s.error}</p>` : html`
              <${Table} head=${["kind", "type", "config", "Deno permissions"]}
                rows=${s.components.map((
                  c,
                ) => [c.kind, c.type, show(c.config), perms(c.permissions)])} />
            `
          }
    </section>`
        )}
        <h1>WASM plugins</h1>
        ${d.plugins.length
          ? html`
            <${Table} testid="plugins" head=${["name", "source", "sha256", "op", "grants"]}
              rows=${d.plugins.map((
                p,
              ) => [
                p.name,
                p.source,
                (p.sha256 ?? "").slice(0, 16),
                p.op ?? "",
                show(p.grants ?? {}),
              ])} />
          `
          : html`<p class="muted">none configured</p>`}
        <h1>Registered components</h1>
        <${Table} testid="components" head=${["kind", "name", "origin", "version", "source", "pin"]}
      rows=${d.components.map((
        c,
      ) => [
        c.kind,
        c.type,
        c.origin,
        c.version ?? "",
        c.source ?? "",
        c.pin ? `${c.pin.slice(0, 23)}…` : "",
      ])} />
  `;
}
