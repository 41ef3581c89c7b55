/**
 * Safe display of untrusted text (plugin log lines, audit rows, plugin
 * names, imports and manifest fields): control characters cannot reach the
 * terminal, so a plugin cannot move the cursor, rewrite a line, set the
 * window title, hide text or reorder it with bidi overrides.
 * @module
 */

// C0 controls (but tab), DEL, C1 controls (0x80–0x9f, incl. the one-byte CSI 0x9b), the bidi
// embeddings/overrides/isolates and marks, and the Unicode line/paragraph separators.
const BIDI = "\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
const UNSAFE = new RegExp(`[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f${BIDI}]`, "g");
const UNSAFE_MULTILINE = new RegExp(`[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f${BIDI}]`, "g");

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Options of {@linkcode safeText}. */
export interface SafeTextOptions {
  /** Keep line feeds (`\n`) as they are; default false (a line feed becomes `\n`). */
  multiline?: boolean;
  /** Cut the result to this many characters, ending with `…`. */
  max?: number;
}

/**
 * `text` with every control character escaped (`ESC` → `\x1b`, a bidi
 * override → `\u202e`, a line feed → `\n`): what is printed is exactly
 * what was sent, and nothing in it acts on the terminal. Non-strings are
 * converted with `String()` first.
 */
export function safeText(text: unknown, options: SafeTextOptions = {}): string {
  const s = typeof text === "string" ? text : String(text);
  const out = s.replace(options.multiline ? UNSAFE_MULTILINE : UNSAFE, escapeChar);
  return options.max !== undefined && out.length > options.max
    ? out.slice(0, Math.max(0, options.max - 1)) + "…"
    : out;
}
