/**
 * Issue 10, cases 7 and 8, as the user hit them with the CLI: a cached run on
 * one stack records its own store's URIs, never another stack's; and what a
 * step returns must match the outputs it declares, on every executor.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { Pipeline, step } from "../../mod.ts";
import { tempStack } from "./_stack.ts";
import { flowyml } from "./_cli.ts";

const TWO_STACKS = `
default_stack: a
stacks:
  a:
    artifact_store: { type: local, path: ./store_a }
    metadata_store: { type: sqlite, path: ./shared.db, inlineMaxBytes: 0 }
  b:
    artifact_store: { type: local, path: ./store_b }
    metadata_store: { type: sqlite, path: ./shared.db, inlineMaxBytes: 0 }
`;

const PIPELINE = `
import { Pipeline, step } from "flowyml";
export default new Pipeline("stacked")
  .add(step({ name: "load", outputs: ["rows"] }, () => [1, 2, 3]))
  .add(step({ name: "total", inputs: ["rows"], outputs: ["sum"] }, ({ rows }) => rows[0] + rows[1] + rows[2]));
`;

Deno.test("case 7 (CLI): a cached run on stack a records a's URIs, never stack b's", async () => {
  const t = await tempDir();
  try {
    await Deno.writeTextFile(`${t.path}/flowyml.yaml`, TWO_STACKS);
    await Deno.writeTextFile(`${t.path}/pipeline.ts`, PIPELINE);
    const a1 = await flowyml(t.path, ["run", "pipeline.ts", "--stack", "a"]);
    assert.equal(a1.code, 0, a1.stderr + a1.stdout);
    const b1 = await flowyml(t.path, ["run", "pipeline.ts", "--stack", "b"]);
    assert.equal(b1.code, 0, b1.stderr);
    assert.match(
      b1.stdout,
      /\(0 cache hits\)/,
      "b's store lacks a's objects: a miss, not a's URIs",
    );
    assert.match(b1.stdout, /store_b\/objects/);
    // Back on a: the newest cache entries are b's, but a's run must name a's objects.
    const a2 = await flowyml(t.path, ["run", "pipeline.ts", "--stack", "a"]);
    assert.equal(a2.code, 0, a2.stderr);
    assert.match(a2.stdout, /\(2 cache hits\)/);
    const runId = /run\s+(stacked-\S+)/.exec(a2.stdout)![1];
    const show = JSON.parse(
      (await flowyml(t.path, ["runs", "show", runId, "--json", "--stack", "a"])).stdout,
    );
    const uris: string[] = [
      ...show.steps.flatMap((s: { outputs?: Record<string, { uri: string }> }) =>
        Object.values(s.outputs ?? {}).map((r) => r.uri)
      ),
      ...show.lineage.map((e: { uri: string }) => e.uri),
    ];
    assert.ok(uris.length >= 4);
    for (const u of uris) assert.ok(u.startsWith(`file://${t.path}/store_a/`), u);
    assert.doesNotMatch(a2.stdout, /store_b/);
  } finally {
    await t.cleanup();
  }
});

const OUTPUTS: Record<string, string> = {
  extra: `step({ name: "split", outputs: ["train", "test"] },
    () => ({ train: [1], test: [2], valid: [3] }))`,
  wrapped: `step({ name: "fit", outputs: ["model"] }, () => ({ model: { w: 1 } }))`,
  plain: `step({ name: "fit", outputs: ["model"] }, () => ({ w: 1 }))`,
};

Deno.test("case 8 (CLI): undeclared output keys and a wrapped single output are errors", async () => {
  const t = await tempDir();
  try {
    const run = async (kind: string) => {
      await Deno.writeTextFile(
        `${t.path}/${kind}.ts`,
        `import { Pipeline, step } from "flowyml";\n` +
          `export default new Pipeline("${kind}").add(${OUTPUTS[kind]});\n`,
      );
      const r = await flowyml(t.path, ["run", `${kind}.ts`]);
      return { code: r.code, out: r.stdout + r.stderr };
    };
    const extra = await run("extra");
    assert.notEqual(extra.code, 0, extra.out);
    assert.match(
      extra.out,
      /step "split" returned undeclared output\(s\) valid; it declares outputs train, test/,
    );
    const wrapped = await run("wrapped");
    assert.notEqual(wrapped.code, 0, wrapped.out);
    assert.match(
      wrapped.out,
      /step "fit" has one output "model" and returned an object whose only key is "model"/,
    );
    assert.match(wrapped.out, /return the value \(return model\), not \{ model \}/);
    const ok = await run("plain");
    assert.equal(ok.code, 0, ok.out);
  } finally {
    await t.cleanup();
  }
});

Deno.test("case 8: the same output rules on the worker executor and for steps without outputs", async () => {
  const workers = await tempStack({ workers: 1 });
  const local = await tempStack();
  const mod = `${workers.dir}/p.ts`;
  await Deno.writeTextFile(
    mod,
    `import { Pipeline, step } from "${new URL("../../mod.ts", import.meta.url)}";
export const extra = new Pipeline("extra_w", { source: import.meta.url })
  .add(step({ name: "split", outputs: ["a", "b"] }, () => ({ a: 1, b: 2, c: 3 })));
export const wrapped = new Pipeline("wrapped_w", { source: import.meta.url })
  .add(step({ name: "fit", outputs: ["model"] }, () => ({ model: 1 })));
`,
  );
  try {
    const m = await import(mod);
    const e = await m.extra.run({ stack: workers.stack });
    assert.match(e.steps.split.error!, /undeclared output\(s\) c/);
    const w = await m.wrapped.run({ stack: workers.stack });
    assert.match(w.steps.fit.error!, /only key is "model"/);
    const none = await new Pipeline("none", { stack: local.stack })
      .add(step({ name: "side", outputs: [] }, () => ({ result: 1 })))
      .run();
    assert.match(none.steps.side.error!, /undeclared output\(s\) result; it declares no outputs/);
    const count = await new Pipeline("count", { stack: local.stack })
      .add(step({ name: "side", outputs: [] }, () => 3))
      .run();
    assert.equal(count.status, "completed", "a non-object from a step without outputs is ignored");
  } finally {
    await workers.cleanup();
    await local.cleanup();
  }
});
