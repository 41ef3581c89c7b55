/**
 * A streaming, reproducible tar writer (ustar + PAX long names) for image
 * layers: entries sorted, mtime 0, uid/gid 0, so equal trees give equal
 * layer digests. Files are streamed from disk, never held whole.
 * @module
 */
import { join } from "node:path";

/** One entry to put in the archive. */
export interface TarEntry {
  /** Path inside the archive, e.g. `app/deno.json` (no leading slash). */
  name: string;
  type: "file" | "dir" | "symlink";
  /** Source file on disk (files). */
  source?: string;
  size?: number;
  /** Symlink target. */
  linkname?: string;
  mode?: number;
}

const enc = new TextEncoder();

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(
  e: { name: string; size: number; type: string; mode: number; linkname?: string },
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off);
  let name = e.name;
  let prefix = "";
  if (enc.encode(name).length > 100) {
    const cut = name.lastIndexOf("/", 155);
    if (
      cut > 0 && enc.encode(name.slice(cut + 1)).length <= 100 &&
      enc.encode(name.slice(0, cut)).length <= 155
    ) {
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    } else {
      name = name.slice(0, 100); // a PAX header carries the full name
    }
  }
  put(name, 0, 100);
  put(octal(e.mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(e.size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  h.fill(0x20, 148, 156);
  put(e.type, 156, 1);
  if (e.linkname) put(e.linkname, 157, 100);
  put("ustar\u000000", 257, 8);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + " ", 148, 8);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length;
  len += String(len).length;
  if (String(len).length !== String(len - String(len).length).length) len++;
  return `${len}${body}`;
}

function needsPax(e: TarEntry): boolean {
  const n = enc.encode(e.name).length;
  if (e.linkname && enc.encode(e.linkname).length > 100) return true;
  if (n <= 100) return false;
  const cut = e.name.lastIndexOf("/", 155);
  return !(cut > 0 && enc.encode(e.name.slice(cut + 1)).length <= 100 && cut <= 155);
}

const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);

/** The tar bytes of `entries` (in the given order), streamed. */
export function tarStream(entries: TarEntry[]): ReadableStream<Uint8Array> {
  async function* gen(): AsyncGenerator<Uint8Array> {
    for (const e of entries) {
      const type = e.type === "file" ? "0" : e.type === "dir" ? "5" : "2";
      const name = e.type === "dir" && !e.name.endsWith("/") ? `${e.name}/` : e.name;
      const size = e.type === "file" ? e.size ?? 0 : 0;
      if (needsPax({ ...e, name })) {
        let recs = paxRecord("path", name);
        if (e.linkname) recs += paxRecord("linkpath", e.linkname);
        const body = enc.encode(recs);
        yield header({ name: "PaxHeader", size: body.length, type: "x", mode: 0o644 });
        yield body;
        yield pad(body.length);
      }
      yield header({
        name,
        size,
        type,
        mode: e.mode ?? (e.type === "dir" ? 0o755 : 0o644),
        linkname: e.linkname,
      });
      if (e.type === "file") {
        const f = await Deno.open(e.source!, { read: true });
        let n = 0;
        for await (const chunk of f.readable) {
          n += chunk.byteLength;
          yield chunk;
        }
        if (n !== size) throw new Error(`${e.source} changed size while building the layer`);
        yield pad(size);
      }
    }
    yield new Uint8Array(1024);
  }
  const it = gen();
  return new ReadableStream({
    async pull(c) {
      const r = await it.next();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}

/** Options of {@linkcode collectTree}. */
export interface CollectOptions {
  /** Top-level names or relative paths to leave out. */
  exclude?: (rel: string) => boolean;
}

/**
 * Walk `root` and return tar entries under `prefix` (sorted, with parent
 * directories). Symlinks are kept as symlinks.
 */
export async function collectTree(
  root: string,
  prefix: string,
  options: CollectOptions = {},
): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const walk = async (dir: string, rel: string) => {
    const items = (await Array.fromAsync(Deno.readDir(dir))).sort((a, b) =>
      a.name < b.name ? -1 : 1
    );
    for (const it of items) {
      const r = rel ? `${rel}/${it.name}` : it.name;
      if (options.exclude?.(r)) continue;
      const abs = join(dir, it.name);
      const name = `${prefix}/${r}`;
      if (it.isSymlink) {
        out.push({ name, type: "symlink", linkname: await Deno.readLink(abs) });
      } else if (it.isDirectory) {
        out.push({ name, type: "dir" });
        await walk(abs, r);
      } else if (it.isFile) {
        const st = await Deno.stat(abs);
        const exec = (st.mode ?? 0) & 0o111;
        out.push({ name, type: "file", source: abs, size: st.size, mode: exec ? 0o755 : 0o644 });
      }
    }
  };
  await walk(root, "");
  return out;
}
