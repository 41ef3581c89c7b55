/**
 * Host matching for network grants, with no imports: shared by the broker
 * (first hop) and the net helper process (every redirect hop), which loads
 * this file with no read permission.
 * @module
 */

/**
 * Match a value against a glob: `*` matches within one `/`-separated
 * segment, `**` across segments, `?` one character.
 */
export function globMatch(pattern: string, value: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(re + "$").test(value);
}

/** True when `url`'s host name or `host:port` matches one of `patterns` (`grants.net`). */
export function hostGranted(patterns: readonly string[], url: URL): boolean {
  return patterns.some((p) => globMatch(p, url.hostname) || globMatch(p, url.host));
}

/** `scheme://host:port` of `url`, with the default port spelled out. */
export function originOf(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.protocol}//${url.hostname}:${port}`;
}
