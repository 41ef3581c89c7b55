/**
 * kernel/_path.ts against `node:path` (posix) and `node:url` on generated
 * paths: the same result for every function flowyml's start-up modules use.
 */
import assert from "node:assert/strict";
import nodePath from "node:path";
import * as nodeUrl from "node:url";
import * as ours from "../../kernel/_path.ts";

const SEGMENTS = ["a", "b", ".", "..", "", "...", ".a", "a.", "c d", "é", "%41", "x#y", "q?r"];

/** Paths built from `SEGMENTS`, with and without leading and trailing slashes (seeded, repeatable). */
function paths(n: number, seed = 1): string[] {
  let s = seed;
  const rand = (k: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % k;
  };
  const out = ["", "/", "//", "///", ".", "..", "./", "../", "a", "/a", "a/", "//a", "//a/b"];
  while (out.length < n) {
    const parts = Array.from({ length: 1 + rand(5) }, () => SEGMENTS[rand(SEGMENTS.length)]);
    const lead = ["", "/", "//"][rand(3)];
    const trail = ["", "/", "//"][rand(3)];
    out.push(lead + parts.join("/") + trail);
  }
  return out;
}

const posix = nodePath.posix;
const ALL = paths(3000);

Deno.test("_path: normalize, dirname, basename, isAbsolute equal node:path.posix", () => {
  for (const p of ALL) {
    assert.equal(ours.normalize(p), posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(ours.dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
    assert.equal(ours.basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
    assert.equal(ours.isAbsolute(p), posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
  }
});

Deno.test("_path: join, resolve, relative equal node:path.posix", () => {
  for (let i = 0; i + 2 < ALL.length; i += 3) {
    const [a, b, c] = ALL.slice(i, i + 3);
    const args = JSON.stringify([a, b, c]);
    assert.equal(ours.join(a, b, c), posix.join(a, b, c), `join(${args})`);
    assert.equal(ours.join(a), posix.join(a), `join(${JSON.stringify(a)})`);
    assert.equal(ours.resolve(a, b, c), posix.resolve(a, b, c), `resolve(${args})`);
    assert.equal(ours.resolve(a), posix.resolve(a), `resolve(${JSON.stringify(a)})`);
    assert.equal(ours.relative(a, b), posix.relative(a, b), `relative(${args})`);
  }
  assert.equal(ours.join(), posix.join());
  assert.equal(ours.resolve(), posix.resolve());
});

Deno.test("_path: fileURLToPath and pathToFileURL equal node:url", () => {
  for (const p of ALL) {
    const url = nodeUrl.pathToFileURL(p);
    assert.equal(ours.pathToFileURL(p).href, url.href, `pathToFileURL(${JSON.stringify(p)})`);
    assert.equal(ours.fileURLToPath(url), nodeUrl.fileURLToPath(url), `fileURLToPath(${url})`);
    assert.equal(ours.fileURLToPath(url.href), nodeUrl.fileURLToPath(url.href));
  }
  for (const bad of ["https://x/a", "file://host/a", "file:///a%2Fb", "file:///a%2fb"]) {
    assert.throws(() => nodeUrl.fileURLToPath(bad), Error, `node:url refuses ${bad}`);
    assert.throws(() => ours.fileURLToPath(bad), TypeError, bad);
  }
  assert.equal(ours.fileURLToPath("file://localhost/a/b"), "/a/b");
});
