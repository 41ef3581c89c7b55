import assert from "node:assert/strict";
import {
  ComponentRegistry,
  LocalExecutor,
  LocalOrchestrator,
  Pipeline,
  SQLiteMetadataStore,
  Stack,
  step,
} from "flowyml";
import { components, SimpleArtifactStore } from "../mod.ts";

Deno.test("simple store registers under its type and runs a pipeline twice", async () => {
  const registry = new ComponentRegistry();
  for (const c of components) registry.register(c);
  assert.equal(registry.entry("artifact_store", "simple")?.version, "0.1.0");

  const dir = await Deno.makeTempDir();
  const stack = new Stack("simple", {
    orchestrator: new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: new SimpleArtifactStore({ path: `${dir}/artifacts` }),
    metadataStore: new SQLiteMetadataStore({ path: `${dir}/metadata.db` }),
  });
  try {
    await stack.validate();
    const pipeline = new Pipeline("simple_demo")
      .add(step({ name: "load", outputs: ["rows"] }, () => [1, 2, 3]))
      .add(step(
        { name: "sum", inputs: ["rows"], outputs: ["total"] },
        ({ rows }: { rows: number[] }) => rows.reduce((a, b) => a + b, 0),
      ));
    const first = await pipeline.run({ stack });
    assert.equal(first.status, "completed", first.error?.message ?? "");
    assert.equal(first.outputs.total, 6);
    const second = await pipeline.run({ stack });
    assert.equal(second.steps.sum.cached, true);
    assert.equal(second.outputs.total, 6);
    assert.deepEqual(stack.artifactStore.toDict(), {
      type: "simple",
      path: `${dir}/artifacts`,
    });
  } finally {
    await stack.close();
    await Deno.remove(dir, { recursive: true });
  }
});
