/**
 * The plugin's config inside the host process, audited: Extism sees only its
 * own keys, every lookup is recorded, and a call's reads are sent to the
 * kernel in a READS frame (for the audit trail) before its RESULT or ERROR.
 * @module
 */
import { FRAME } from "./protocol.ts";
import { send } from "./host_channel.ts";

/** `config_get` reads of the current call: key → found (distinct keys, capped). */
const configReads = new Map<string, boolean>();
let configReadsDropped = 0;

/**
 * The plugin's config as Extism sees it: own keys only (a null prototype, so
 * `__proto__`, `constructor` and `toString` are unknown keys), and every
 * lookup recorded for the audit trail (Extism asks `key in config` first).
 */
export function auditedConfig(raw: Record<string, string>): Record<string, string> {
  const own: Record<string, string> = Object.assign(Object.create(null), raw);
  return new Proxy(own, {
    has(t, k) {
      const found = typeof k === "string" && Object.hasOwn(t, k);
      if (typeof k === "string") noteConfigRead(k, found);
      return found;
    },
    get: (t, k) => (typeof k === "string" && Object.hasOwn(t, k) ? t[k] : undefined),
  });
}

function noteConfigRead(key: string, found: boolean): void {
  const k = key.slice(0, 256);
  if (configReads.has(k) || configReads.size < 256) configReads.set(k, found);
  else configReadsDropped++;
}

/** Send the call's host reads (before its RESULT or ERROR) and start over. */
export function flushReads(): void {
  if (configReads.size === 0 && configReadsDropped === 0) return;
  const reads = [...configReads].map(([k, found]) => ["config_get", k, found]);
  send(FRAME.READS, { reads, dropped: configReadsDropped });
  configReads.clear();
  configReadsDropped = 0;
}
