// flowyml ui: the API client, the hash router's helpers and small formatting helpers.
import { html, useEffect, useState } from "./vendor/htm_preact.js";

/** GET a JSON API path; throws with the server's message. */
export async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

/** POST an action (only works with --allow-actions). */
export async function act(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-flowyml-action": "1" },
    body: JSON.stringify(body ?? {}),
  });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(out.error ?? `${res.status}`);
  return out;
}

/** The current route: path segments and query params of the location hash. */
export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

/** A hash link to a page. */
export function href(parts, params) {
  const p = parts.map(encodeURIComponent).join("/");
  const q = params
    ? new URLSearchParams(
      Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
    ).toString()
    : "";
  return `#/${p}${q ? `?${q}` : ""}`;
}

/** Load JSON for `path` (reloading when it changes). */
export function useApi(path) {
  const [state, set] = useState({ path, loading: true });
  useEffect(() => {
    let live = true;
    api(path).then((data) => live && set({ path, data }), (error) => live && set({ path, error }));
    return () => (live = false);
  }, [path]);
  // never show the previous address's data (or error) while the new one loads
  return state.path === path ? state : { path, loading: true };
}

/** Loading and error states of {@link useApi}. */
export function Loading({ state }) {
  if (state.error) return html`<p class="error" data-testid="error">${state.error.message}</p>`;
  return html`<p class="muted">loading…</p>`;
}

/** Milliseconds as a short text. */
export function ms(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "-";
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(2)} s`;
  return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
}

/** Bytes as a short text. */
export function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

/** A time as local date and time. */
export function when(t) {
  if (!t) return "-";
  const d = new Date(t);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
}

/** A value as compact JSON text. */
export function show(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}
