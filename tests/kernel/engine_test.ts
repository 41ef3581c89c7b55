/** The engine's pieces: the step services (ctx.artifacts) and the one scheduling path. */
import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { graphOf } from "../../kernel/graph.ts";
import { GraphOrder, ScheduleGate } from "../../kernel/scheduling.ts";
import type { ArtifactRef } from "../../kernel/records.ts";
import { tempStack } from "./_stack.ts";

Deno.test("engine: ctx.artifacts saves and loads through the verified path", async () => {
  const { stack, cleanup } = await tempStack();
  try {
    let saved: ArtifactRef | undefined;
    const p = new Pipeline("svc", { stack }).add(
      step({ name: "a", outputs: ["x"] }, async (_i, ctx) => {
        saved = await ctx.artifacts!.save({ n: 41 });
        return ((await ctx.artifacts!.load(saved)) as { n: number }).n + 1;
      }),
    );
    const r = await p.run();
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.equal(r.outputs.x, 42);
    assert.ok(await stack.artifactStore.exists(saved!.path));
  } finally {
    await cleanup();
  }
});

Deno.test("engine: graph order and an external scheduler share one StepOrder path", async () => {
  const f = () => 1;
  const p = new Pipeline("order")
    .add(step({ name: "b", outputs: ["b"] }, f))
    .add(step({ name: "a", outputs: ["a"] }, f))
    .add(step({ name: "c", inputs: ["a", "b"], outputs: ["c"] }, f));
  const graph = graphOf(p);
  assert.equal(graphOf(p), graph, "built once");
  const order = new GraphOrder(graph);
  const [a, b] = [
    graph.order.find((s) => s.name === "a")!,
    graph.order.find((s) => s.name === "b")!,
  ];
  order.ready(a);
  order.ready(b);
  assert.deepEqual([order.next()?.name, order.next()?.name, order.next()], ["b", "a", undefined]);
  let wake = 0;
  const gate = new ScheduleGate({ name: "t", run: () => new Promise(() => {}) }, {
    runId: "r",
    graph,
    concurrency: 2,
  });
  gate.start(() => wake++);
  gate.ready(a);
  assert.equal(gate.status("a")[0].status, "ready");
  assert.equal(gate.status("c")[0].status, "pending");
  assert.throws(() => gate.submit("c"), /not ready: upstream "a", "b" not completed/);
  const { ticket } = gate.submit("a");
  assert.equal(gate.next()?.name, "a");
  gate.started("a");
  const waited = gate.wait(ticket);
  gate.finished("a", {
    status: "completed",
    cached: false,
    durationMs: 1,
    attempts: 1,
    outputs: {},
  });
  assert.equal((await waited).status, "completed");
  assert.ok(wake >= 1 && gate.pending);
});
