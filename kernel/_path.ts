/**
 * Path and file-URL functions for the modules every process of a run loads
 * (`import "flowyml"`, the CLI's launcher and its child), in place of
 * `node:path` and `node:url`: the first `node:` module other than
 * `node:sqlite` starts Deno's Node compatibility layer, ≈ 4–5 ms of every
 * start (docs/benchmarks.md). On POSIX these are Node's `path.posix` and
 * `url` algorithms, written here and checked against `node:path` and
 * `node:url` on generated paths (tests/kernel/path_test.ts); on Windows the
 * functions are `node:path` and `node:url` themselves, loaded only there.
 * Modules loaded on demand (cloud stores, image builds, the UI) keep using
 * `node:path` directly.
 * @module
 */

type NodePath = typeof import("node:path");
type NodeUrl = typeof import("node:url");

const native: { path: NodePath; url: NodeUrl } | undefined = Deno.build.os === "windows"
  ? { path: await import("node:path"), url: await import("node:url") }
  : undefined;

const SLASH = 47; // "/"

/** The segments of `path` with `.` and `..` resolved; `..` above the start kept when `aboveRoot`. */
function resolveSegments(path: string, aboveRoot: boolean): string[] {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg !== "..") out.push(seg);
    else if (out.length && out[out.length - 1] !== "..") out.pop();
    else if (aboveRoot) out.push("..");
  }
  return out;
}

function posixNormalize(path: string): string {
  if (path.length === 0) return ".";
  const absolute = path.charCodeAt(0) === SLASH;
  const trailing = path.charCodeAt(path.length - 1) === SLASH;
  let body = resolveSegments(path, !absolute).join("/");
  if (!body && !absolute) body = ".";
  if (body && trailing) body += "/";
  return absolute ? `/${body}` : body;
}

function posixJoin(...paths: string[]): string {
  const joined = paths.filter((p) => p.length > 0).join("/");
  return joined ? posixNormalize(joined) : ".";
}

function posixResolve(...paths: string[]): string {
  let resolved = "";
  for (let i = paths.length - 1; i >= -1; i--) {
    const p = i >= 0 ? paths[i] : Deno.cwd();
    if (p.length === 0) continue;
    resolved = `${p}/${resolved}`;
    if (p.charCodeAt(0) === SLASH) break;
  }
  return `/${resolveSegments(resolved, false).join("/")}`;
}

function posixRelative(from: string, to: string): string {
  if (from === to) return "";
  const a = resolveSegments(posixResolve(from), false);
  const b = resolveSegments(posixResolve(to), false);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => ".."), ...b.slice(common)].join("/");
}

function posixDirname(path: string): string {
  if (path.length === 0) return ".";
  const hasRoot = path.charCodeAt(0) === SLASH;
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 1; --i) {
    if (path.charCodeAt(i) === SLASH) {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else {
      matchedSlash = false; // a non-slash: the slash before it ends the dirname
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

function posixBasename(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === SLASH) end--;
  const start = path.lastIndexOf("/", end - 1) + 1;
  return end === 1 && path.charCodeAt(0) === SLASH ? "" : path.slice(start, end);
}

function posixIsAbsolute(path: string): boolean {
  return path.length > 0 && path.charCodeAt(0) === SLASH;
}

function posixFileURLToPath(url: string | URL): string {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "file:") throw new TypeError(`The URL must be of scheme file: ${u.href}`);
  if (u.hostname !== "") {
    throw new TypeError(`File URL host must be "localhost" or empty on ${Deno.build.os}`);
  }
  if (/%2f/i.test(u.pathname)) {
    throw new TypeError("File URL path must not include encoded / characters");
  }
  return decodeURIComponent(u.pathname);
}

function posixPathToFileURL(path: string): URL {
  let resolved = posixResolve(path);
  if (path.charCodeAt(path.length - 1) === SLASH && !resolved.endsWith("/")) resolved += "/";
  const url = new URL("file://");
  url.pathname = resolved.replace(/%/g, "%25").replace(/\\/g, "%5C").replace(/\n/g, "%0A")
    .replace(/\r/g, "%0D").replace(/\t/g, "%09");
  return url;
}

/** `path.normalize`: `.` and `..` resolved, repeated slashes collapsed, a trailing one kept. */
export const normalize: (path: string) => string = native?.path.normalize ?? posixNormalize;
/** `path.join`: the non-empty parts joined with `/`, normalized; `"."` when there are none. */
export const join: (...paths: string[]) => string = native?.path.join ?? posixJoin;
/** `path.resolve`: an absolute path from right to left, relative to the working directory. */
export const resolve: (...paths: string[]) => string = native?.path.resolve ?? posixResolve;
/** `path.relative`: the relative path from `from` to `to` (both resolved first). */
export const relative: (from: string, to: string) => string = native?.path.relative ??
  posixRelative;
/** `path.dirname`: the directory part of `path` (`"."` when it has none). */
export const dirname: (path: string) => string = native?.path.dirname ?? posixDirname;
/** `path.basename`: the last part of `path`, trailing slashes ignored. */
export const basename: (path: string) => string = native?.path.basename ?? posixBasename;
/** `path.isAbsolute`. */
export const isAbsolute: (path: string) => boolean = native?.path.isAbsolute ?? posixIsAbsolute;
/** `url.fileURLToPath`: the path of a `file:` URL (throws for another scheme or a host). */
export const fileURLToPath: (url: string | URL) => string = native?.url.fileURLToPath ??
  posixFileURLToPath;
/** `url.pathToFileURL`: the `file:` URL of a path (resolved first). */
export const pathToFileURL: (path: string) => URL = native?.url.pathToFileURL ??
  posixPathToFileURL;
