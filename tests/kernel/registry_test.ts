import assert from "node:assert/strict";
import v8 from "node:v8";
import {
  ArtifactStore,
  ComponentRegistry,
  getComponentRegistry,
  LocalArtifactStore,
  LocalExecutor,
  LocalOrchestrator,
  Orchestrator,
  Pipeline,
  type PipelineSpec,
  registerComponent,
  type RunPipelineOptions,
  type RunResult,
  type RunStatus,
  SQLiteMetadataStore,
  Stack,
  step,
} from "../../mod.ts";
import { pollRunStatus } from "../../kernel/contract_defaults.ts";
import { tempDir } from "../_helpers.ts";

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
    /missing required method\(s\) save, load, exists, toDict \(seed shape\) or writeBytes, readBytes, exists, uriFor, toDict \(byte shape\)/,
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
    /neither extends a component base class nor is a \{ kind, type, create \} object/,
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

// ---- Minimal contracts: the seed's shapes, byte primitives, plain objects, unknown keys ----

/** The seed's shape: save/load/exists (node:v8 stands in for pickle), validate, toDict. */
class SeedMemoryArtifactStore extends ArtifactStore {
  readonly objects = new Map<string, Uint8Array>();
  constructor({ name = "seed_memory" }: { name?: string } = {}) {
    super(name);
  }
  override validate(): boolean {
    return true;
  }
  override save(artifact: unknown, path: string): Promise<string> {
    this.objects.set(path, new Uint8Array(v8.serialize(artifact)));
    return Promise.resolve(`mem://${path}`);
  }
  override load(path: string): Promise<unknown> {
    const b = this.objects.get(path);
    if (!b) return Promise.reject(new Error(`no object at ${path}`));
    return Promise.resolve(v8.deserialize(b));
  }
  override exists(path: string): Promise<boolean> {
    return Promise.resolve(this.objects.has(path));
  }
  override toDict() {
    return { type: "seed_memory" };
  }
}

/** Only the byte primitives. */
class BytesOnlyArtifactStore extends ArtifactStore {
  readonly objects = new Map<string, Uint8Array>();
  constructor({ name = "bytes_only" }: { name?: string } = {}) {
    super(name);
  }
  override uriFor(path: string): string {
    return `bytes://${path}`;
  }
  override writeBytes(path: string, data: Uint8Array): Promise<void> {
    this.objects.set(path, data.slice());
    return Promise.resolve();
  }
  override readBytes(path: string): Promise<Uint8Array> {
    const b = this.objects.get(path);
    return b ? Promise.resolve(b) : Promise.reject(new Error(`no object at ${path}`));
  }
  override exists(path: string): Promise<boolean> {
    return Promise.resolve(this.objects.has(path));
  }
  override toDict() {
    return { type: "bytes_only" };
  }
}

function twoStepPipeline(name: string): Pipeline {
  const load = step({ name: "load", outputs: ["rows"] }, () => [1, 2, 3, 4]);
  const total = step(
    { name: "total", inputs: ["rows"], outputs: ["sum"] },
    ({ rows }: { rows: number[] }) => rows.reduce((a, b) => a + b, 0),
  );
  return new Pipeline(name).add(load).add(total);
}

async function stackWith(
  parts: { artifactStore?: ArtifactStore; orchestrator?: Orchestrator },
): Promise<{ stack: Stack; cleanup: () => Promise<void> }> {
  const t = await tempDir();
  const stack = new Stack("t", {
    orchestrator: parts.orchestrator ?? new LocalOrchestrator(),
    executor: new LocalExecutor(),
    artifactStore: parts.artifactStore ?? new LocalArtifactStore({ path: `${t.path}/a` }),
    metadataStore: new SQLiteMetadataStore({ path: `${t.path}/metadata.db` }),
  });
  return { stack, cleanup: () => stack.close().then(() => t.cleanup()) };
}

Deno.test("minimal contracts: a seed-shaped store (save/load/exists) registers and runs a pipeline twice", async () => {
  const reg = new ComponentRegistry();
  reg.register(SeedMemoryArtifactStore);
  const store = await reg.create<SeedMemoryArtifactStore>("artifact_store", "seed_memory");
  const { stack, cleanup } = await stackWith({ artifactStore: store });
  try {
    const first = await twoStepPipeline("seed-store").run({ stack });
    assert.equal(first.status, "completed", first.error?.message ?? "");
    assert.equal(first.outputs.sum, 10);
    assert.ok(
      [...store.objects.keys()].some((k) => /^objects\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(k)),
    );
    const second = await twoStepPipeline("seed-store").run({ stack });
    assert.equal(second.steps.total.cached, true);
    assert.equal(second.outputs.sum, 10);
    // the derived methods
    assert.equal(store.uriFor("objects/ab/x"), "seed_memory://objects/ab/x");
    await store.writeStream(
      "s/1",
      ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]),
    );
    assert.deepEqual(await Array.fromAsync(await store.readStream("s/1")), [
      new Uint8Array([1, 2, 3]),
    ]);
    await assert.rejects(store.list(), /list\(\) is not supported by seed_memory "seed_memory"/);
    await assert.rejects(store.delete("s/1"), /delete\(\) is not supported by seed_memory/);
    await assert.rejects(
      store.move("s/1", "s/2"),
      /delete\(\) is not supported .*fix: implement delete\(path\)/s,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("minimal contracts: a store of byte primitives only runs a pipeline; save/load/streams/move derive", async () => {
  const reg = new ComponentRegistry();
  reg.register(BytesOnlyArtifactStore);
  const store = await reg.create<BytesOnlyArtifactStore>("artifact_store", "bytes_only");
  const { stack, cleanup } = await stackWith({ artifactStore: store });
  try {
    const r = await twoStepPipeline("bytes-store").run({ stack });
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.equal(r.outputs.sum, 10);
    assert.equal(await store.save({ a: 1 }, "x/y"), "bytes://x/y");
    assert.deepEqual(await store.load("x/y"), { a: 1 });
    await store.writeStream("s", ReadableStream.from([new Uint8Array([9])]));
    assert.deepEqual(await store.readBytes("s"), new Uint8Array([9]));
  } finally {
    await cleanup();
  }
});

Deno.test("minimal contracts: a load() that does not give bytes back is a clear error", async () => {
  class JsonStore extends SeedMemoryArtifactStore {
    override save(artifact: unknown, path: string): Promise<string> {
      this.objects.set(path, new TextEncoder().encode(JSON.stringify(artifact)));
      return Promise.resolve(path);
    }
    override load(path: string): Promise<unknown> {
      return Promise.resolve(JSON.parse(new TextDecoder().decode(this.objects.get(path))));
    }
  }
  const store = new JsonStore({ name: "json" });
  await store.writeBytes("p", new Uint8Array([1]));
  await assert.rejects(
    store.readBytes("p"),
    /seed_memory\.load\("p"\) returned object, not the Uint8Array that save\(\) was given.*node:v8/s,
  );
});

/** The seed's orchestrator shape: runPipeline and getRunStatus only (Airflow's status words). */
class PollingOrchestrator extends Orchestrator {
  #local = new LocalOrchestrator();
  #stack?: Stack;
  polls = 0;
  constructor({ name = "polling" }: { name?: string } = {}) {
    super(name);
  }
  override runPipeline(p: PipelineSpec, options: RunPipelineOptions): Promise<string> {
    this.#stack = options.stack as Stack;
    return this.#local.runPipeline(p, options);
  }
  override async getRunStatus(runId: string): Promise<RunStatus> {
    this.polls++;
    const s = (await this.#stack!.metadataStore.getRun(runId))?.status;
    return (s === "completed" ? "success" : s ?? "UNKNOWN") as RunStatus;
  }
  override toDict() {
    return { type: "polling" };
  }
}

Deno.test("minimal contracts: an orchestrator with only runPipeline/getRunStatus runs; waitForRun polls", async () => {
  const reg = new ComponentRegistry();
  reg.register(PollingOrchestrator);
  const orch = await reg.create<PollingOrchestrator>("orchestrator", "polling");
  const { stack, cleanup } = await stackWith({ orchestrator: orch });
  try {
    const r = await twoStepPipeline("polled").run({ stack });
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.ok(orch.polls >= 1);
    assert.equal(r.steps.total.status, "completed");
    assert.equal(r.outputs.sum, 10); // loaded from the store by Pipeline.run
    assert.equal(r.outputs.rows, undefined); // consumed by a step: not a final output
    await assert.rejects(orch.cancelRun(r.runId), /cancelRun\(\) is not supported by polling/);
  } finally {
    await cleanup();
  }
  let n = 0;
  await assert.rejects(
    pollRunStatus(() => Promise.resolve(++n < 3 ? "running" : "UNKNOWN"), "r1", {
      initialDelayMs: 1,
      maxDelayMs: 1,
      maxUnknown: 2,
      owner: 'orchestrator "x"',
    }),
    /orchestrator "x": getRunStatus\("r1"\) keeps answering "UNKNOWN", which is not a run status/,
  );
  abstract class NoStatus extends Orchestrator {
    override runPipeline(): Promise<string> {
      return Promise.resolve("r");
    }
    override toDict() {
      return {};
    }
  }
  assert.throws(
    () => reg.register(NoStatus as never),
    /cannot register NoStatus as orchestrator: missing required method\(s\) getRunStatus/,
  );
});

Deno.test("plain-object components: { kind, type, create } registers, builds and runs beside classes", async () => {
  const reg = new ComponentRegistry();
  const objects = new Map<string, Uint8Array>();
  reg.register({
    kind: "artifact_store",
    type: "plain",
    version: "0.0.1",
    create: (config) => ({
      name: String(config.name),
      prefix: config.prefix,
      exists: (p: string) => Promise.resolve(objects.has(p)),
      save: (a: unknown, p: string) => {
        objects.set(p, a as Uint8Array);
        return Promise.resolve(p);
      },
      load: (p: string) => Promise.resolve(objects.get(p)),
      toDict: () => ({ type: "plain" }),
    }),
  });
  assert.equal(reg.entry("artifact_store", "plain")?.version, "0.0.1");
  const store = await reg.create<ArtifactStore>("artifact_store", "plain", { prefix: "p" });
  assert.ok(store instanceof ArtifactStore);
  const { stack, cleanup } = await stackWith({ artifactStore: store });
  try {
    const r = await twoStepPipeline("plain").run({ stack });
    assert.equal(r.status, "completed", r.error?.message ?? "");
    assert.equal(r.outputs.sum, 10);
  } finally {
    await cleanup();
  }
  // From a module's `components`, and a create() result missing methods is refused by name.
  const mod = `export const components = [{ kind: "orchestrator", type: "half", ` +
    `create: () => ({ runPipeline: async () => "r" }) }];`;
  const [e] = await reg.loadFromModule(`data:application/javascript,${encodeURIComponent(mod)}`);
  assert.deepEqual([e.kind, e.type], ["orchestrator", "half"]);
  await assert.rejects(
    reg.create("orchestrator", "half"),
    /orchestrator "half": create\(\) returned a component missing required method\(s\) getRunStatus\n/,
  );
});

Deno.test("unknown keys: a component without configSchema is warned about a key it does not take", async () => {
  class KeyedArtifactStore extends SeedMemoryArtifactStore {
    readonly endpoint: string;
    constructor({ name = "keyed", endpoint = "localhost:9000", bucket = "flowyml" } = {}) {
      super({ name });
      this.endpoint = endpoint;
      void bucket;
    }
  }
  class OptsOrchestrator extends PollingOrchestrator {
    constructor(options: { name?: string; dag_folder?: string } = {}) {
      super({ name: options.name });
      void options?.dag_folder;
    }
  }
  const reg = new ComponentRegistry();
  const warnings: string[] = [];
  reg.onWarning((m) => warnings.push(m));
  reg.register(KeyedArtifactStore, "keyed");
  reg.register(OptsOrchestrator, "opts");
  await reg.create("artifact_store", "keyed", { endpoint: "h:1", bucket: "b" });
  await reg.create("orchestrator", "opts", { dagFolder: "/x" }); // matches dag_folder
  assert.deepEqual(warnings, []);
  await reg.create("artifact_store", "keyed", {
    bukcet: "b",
    __where: "flowyml.yaml: stacks.s.artifact_store",
  });
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /flowyml\.yaml: stacks\.s\.artifact_store: unknown option "bukcet" for artifact_store "keyed" \(it declares no configSchema.*known options: name, endpoint, bucket/s,
  );
  await reg.create("orchestrator", "opts", { dag_foldr: "/x" });
  assert.match(warnings[1], /unknown option "dag_foldr" .*known options: name, dag_folder/s);
});
