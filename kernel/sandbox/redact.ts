/**
 * Redaction of secret values by value: every text the broker emits (answers
 * to the plugin, audit rows, log lines, errors) passes through a
 * {@linkcode Redactor} holding the values of the secrets the call may use,
 * so a value can never come back in clear, not even inside a URL, a JSON
 * string or one line of a multi-line value such as a PEM key.
 * @module
 */

/** Values shorter than this are not redacted (they would mangle ordinary text). */
export const MIN_REDACTED_LENGTH = 4;

/** Replaces known secret values in text with `[redacted:NAME]`. */
export class Redactor {
  #forms: { text: string; label: string }[] = [];

  /** Redact `value` of secret `name` from now on (and its URL- and JSON-encoded forms). */
  add(name: string, value: string): void {
    const label = `[redacted:${name}]`;
    const forms = new Set<string>([value]);
    try {
      forms.add(encodeURIComponent(value));
      forms.add(encodeURI(value));
    } catch {
      // a lone surrogate cannot be URI-encoded; the raw form is still redacted
    }
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(value.replaceAll(" ", "+"));
    // Each line of a multi-line value (a PEM body) on its own, and the value without line breaks.
    if (/[\r\n]/.test(value)) {
      forms.add(value.replace(/[\r\n]+/g, ""));
      for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) forms.add(line.trim());
    }
    for (const text of forms) {
      if (text.length >= MIN_REDACTED_LENGTH && !this.#forms.some((f) => f.text === text)) {
        this.#forms.push({ text, label });
      }
    }
    // Longest first, so a whole value is replaced before one of its lines.
    this.#forms.sort((a, b) => b.text.length - a.text.length);
  }

  /** True when no value is registered. */
  get empty(): boolean {
    return this.#forms.length === 0;
  }

  /** `text` with every registered value replaced by its label. */
  redact(text: string): string {
    let out = text;
    for (const f of this.#forms) if (out.includes(f.text)) out = out.replaceAll(f.text, f.label);
    return out;
  }
}
