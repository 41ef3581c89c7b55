// flowyml ui: the page shell, the hash router and the API client. Every value from the store is
// rendered as text by Preact (never as HTML), so step names, logs and params cannot inject markup.
import { html, render, useEffect, useState } from "./vendor/htm_preact.js";
import { parseHash, useApi } from "./core.js";
import { AuditPage, ComparePage, StacksPage } from "./pages_more.js";
import { ArtifactPage, RunPage, RunsPage, StepPage } from "./pages.js";

const NAV = [["runs", "Runs"], ["audit", "Audit"], ["stacks", "Stacks"]];

function Page({ route }) {
  const [name, ...rest] = route.parts;
  switch (name ?? "runs") {
    case "runs":
      return html`<${RunsPage} params=${route.params} />`;
    case "run":
      return html`<${RunPage} runId=${rest[0]} key=${rest[0]} />`;
    case "step":
      return html`<${StepPage} runId=${rest[0]} step=${rest[1]} />`;
    case "artifact":
      return html`<${ArtifactPage} hash=${rest[0]} />`;
    case "compare":
      return html`<${ComparePage} params=${route.params} />`;
    case "audit":
      return html`<${AuditPage} params=${route.params} />`;
    case "stacks":
      return html`<${StacksPage} />`;
    default:
      return html`<p>unknown page</p>`;
  }
}

function App() {
  const [route, setRoute] = useState(parseHash());
  const info = useApi("/api/info");
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const current = route.parts[0] ?? "runs";
  return html`
    <header>
      <a class="brand" href="#/runs">flowyml</a>
      <nav>${NAV.map(([k, label]) =>
        html`<a href=${`#/${k}`} class=${current === k ? "active" : ""}>${label}</a>`
      )}</nav>
      <span class="muted small">${info.data
        ? `stack ${info.data.stack}`
        : ""}${info.data && !info.data.actions ? " · read-only" : ""}</span>
    </header>
    <main>
      <${Page} route=${route} />
    </main>
  `;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
