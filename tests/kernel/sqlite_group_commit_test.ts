/**
 * plugins/sqlite/group_commit.ts on its own, with a commit function that fails on demand: which
 * completions a failed commit takes down with it, and that a later successful one recovers.
 */
import assert from "node:assert/strict";
import { Pipeline, step } from "../../mod.ts";
import { lockedStack } from "./_stack.ts";
import type { StepCompletion } from "../../kernel/contracts.ts";
import { GroupCommit } from "../../plugins/sqlite/group_commit.ts";

/** A completion of `step` with one inline output of hash `out` (and inputs of hashes `ins`). */
function completion(step: string, out: string, ins: string[] = []): StepCompletion {
  const ref = { hash: out, path: `blobs/${out}`, uri: `x://${out}`, inline: true, size: 1 };
  const edge = (direction: "input" | "output", hash: string) => ({
    runId: "r",
    step,
    direction,
    name: hash,
    hash,
    uri: `x://${hash}`,
  });
  return {
    stepRun: {
      runId: "r",
      step,
      status: "completed",
      cached: false,
      attempts: 1,
      startedAt: 0,
      outputs: { o: { ...ref, serializer: "json", serializerVersion: 1 } },
    },
    lineage: [...ins.map((h) => edge("input", h)), edge("output", out)],
  } as StepCompletion;
}

/** A group commit whose commits throw while `state.failing`; committed steps and blobs listed. */
function failingGroup() {
  const state = { failing: true, steps: [] as string[], blobs: [] as string[] };
  const group = new GroupCommit((list, blobs) => {
    if (state.failing) throw new Error("database is locked");
    state.steps.push(...list.map((c) => c.stepRun.step));
    state.blobs.push(...blobs.keys());
  }, { explain: (e) => e });
  return { group, state };
}

Deno.test("group commit: a re-run's blob committed alone before its completion is not refused", async () => {
  const { group, state } = failingGroup();
  // First run: the output's bytes fail to commit, so its completion is refused.
  group.stage("h", new Uint8Array([1]));
  group.flush();
  await group.add(completion("a", "h"), true);
  group.flush();
  assert.match(String(group.takeError()), /locked/);
  // Re-run, the database free again: the bytes commit on their own (the 1 ms timer), then the
  // completion arrives.
  state.failing = false;
  group.stage("h", new Uint8Array([1]));
  group.flush();
  await group.add(completion("a", "h"), false);
  assert.deepEqual(state.steps, ["a"]);
  assert.equal(group.takeError(), undefined);
});

Deno.test("group commit: a re-run after a lost record, its blob committed first, is not refused", async () => {
  const { group, state } = failingGroup();
  group.stage("h", new Uint8Array([1]));
  await assert.rejects(group.add(completion("a", "h"), false), /locked/);
  state.failing = false;
  group.stage("h", new Uint8Array([1]));
  group.flush();
  await group.add(completion("a", "h"), false);
  assert.deepEqual(state.steps, ["a"]);
});

Deno.test("group commit: a consumer of a lost output is still refused; a re-run clears it", async () => {
  const { group, state } = failingGroup();
  await assert.rejects(group.add(completion("a", "h"), false), /locked/);
  state.failing = false;
  await assert.rejects(group.add(completion("b", "g", ["h"]), false), /locked/);
  group.stage("h", new Uint8Array([1]));
  await group.add(completion("a", "h"), false);
  group.stage("g", new Uint8Array([2]));
  await group.add(completion("b", "g", ["h"]), false);
  assert.deepEqual(state.steps, ["a", "b"]);
});

Deno.test("group commit: a step whose inline output's bytes were lost to a lock runs again and completes", async () => {
  const { stack, lock, hold, cleanup } = await lockedStack();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // `x` is staged inline at once; writing `big` to the folder store outlasts the 1 ms group
  // commit timer, so `x`'s bytes are committed on their own before the completion arrives.
  const make = step({ name: "make", outputs: ["x", "big"] }, async () => {
    await sleep(20);
    return { x: { v: 41 }, big: new Uint8Array(8 << 20).fill(7) };
  });
  const p = () => new Pipeline("lost-blob", { stack, concurrency: 2 }).add(hold).add(make);
  try {
    const r1 = await p().run();
    assert.equal(r1.status, "failed");
    assert.match(String(r1.error), /locked/);
    lock.on = false;
    const r2 = await p().run();
    assert.equal(r2.status, "completed", String(r2.error));
    assert.deepEqual(r2.outputs.x, { v: 41 });
  } finally {
    await cleanup();
  }
});
