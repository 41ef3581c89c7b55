import assert from "node:assert/strict";
import {
  ArtifactStore,
  ComponentRegistry,
  getComponentRegistry,
  Orchestrator,
  type PipelineSpec,
  registerComponent,
  type RunResult,
  type RunStatus,
} from "../../mod.ts";

abstract class TestOrchestratorBase extends Orchestrator {
  override runPipeline(_p: PipelineSpec): Promise<string> {
    return Promise.resolve("r");
  }
  override getRunStatus(): Promise<RunStatus> {
    return Promise.resolve("completed");
  }
  override waitForRun(): Promise<RunResult> {
    return Promise.reject(new Error("n/a"));
  }
  override toDict() {
    return { type: this.name };
  }
}

@registerComponent
class AirflowOrchestrator extends TestOrchestratorBase {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? "airflow");
  }
}

@registerComponent({ name: "my_custom_name" })
class CustomOrchestrator extends TestOrchestratorBase {
  constructor() {
    super("custom");
  }
}

Deno.test("registry: both decorator forms, manual register, getX and listAll", async () => {
  const reg = getComponentRegistry();
  assert.equal(await reg.getOrchestrator("airflow"), AirflowOrchestrator);
  assert.equal(await reg.getOrchestrator("my_custom_name"), CustomOrchestrator);
  class ManualOrchestrator extends TestOrchestratorBase {}
  reg.register(ManualOrchestrator, "manual");
  assert.equal(await reg.getOrchestrator("manual"), ManualOrchestrator);
  const all = reg.listAll();
  assert.ok(all.orchestrator.includes("airflow"));
  assert.ok(all.orchestrator.includes("local"));
  assert.ok(all.artifact_store.includes("local"));
  assert.ok(all.metadata_store.includes("sqlite"));
  const inst = await reg.create("orchestrator", "airflow", {});
  assert.ok(inst instanceof AirflowOrchestrator);
  await assert.rejects(
    reg.getArtifactStore("nope"),
    /unknown artifact_store type "nope".*registered artifact_store types: .*local/s,
  );
});

Deno.test("registry: missing methods are refused naming them; name conflicts are clear", () => {
  const reg = new ComponentRegistry();
  // deno-lint-ignore no-explicit-any
  abstract class Half extends (ArtifactStore as any) {}
  assert.throws(
    () => reg.register(Half as never, "half"),
    /missing required method\(s\) uriFor, writeBytes/,
  );
  class A extends TestOrchestratorBase {}
  class B extends TestOrchestratorBase {}
  reg.register(A, "same");
  assert.throws(
    () => reg.register(B, "same"),
    /name conflict: orchestrator "same" is already registered by A/,
  );
  assert.throws(
    () => reg.register(class NotAComponent {} as never),
    /does not extend a component base class/,
  );
});

Deno.test("registry: loadFromModule and loadComponent(file:Class)", async () => {
  const reg = new ComponentRegistry();
  const entries = await reg.loadFromModule(
    new URL("../fixtures/my_components.ts", import.meta.url).href,
  );
  assert.deepEqual(entries.map((e) => [e.kind, e.type, e.origin, e.version]), [[
    "artifact_store",
    "memory",
    "file",
    "1.2.3",
  ]]);
  const reg2 = new ComponentRegistry();
  const [e] = await reg2.loadComponent(
    "tests/fixtures/my_components.ts:MemoryArtifactStore",
    "mem2",
  );
  assert.equal(e.type, "mem2");
  const store = await reg2.create<ArtifactStore>("artifact_store", "mem2");
  await store.writeBytes("a", new Uint8Array([1]));
  assert.equal(await store.exists("a"), true);
  await assert.rejects(
    reg2.loadComponent("tests/fixtures/does_not_exist.ts"),
    /could not import component module/,
  );
  await assert.rejects(
    reg2.loadComponent("tests/fixtures/my_components.ts:Nope"),
    /has no export named Nope/,
  );
});
