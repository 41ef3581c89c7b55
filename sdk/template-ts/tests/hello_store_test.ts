import assert from "node:assert/strict";
import { ComponentRegistry } from "flowyml";
import { components, HelloArtifactStore } from "../mod.ts";

Deno.test("hello store registers under its type and stores bytes", async () => {
  const registry = new ComponentRegistry();
  for (const c of components) registry.register(c);
  assert.equal(registry.entry("artifact_store", "hello")?.version, "0.1.0");

  const dir = await Deno.makeTempDir();
  try {
    const store = new HelloArtifactStore({ path: dir, namespace: "ns" });
    await store.validate();
    await store.writeBytes("a/b.bin", new Uint8Array([1, 2, 3]));
    assert.deepEqual(
      await store.readBytes("a/b.bin"),
      new Uint8Array([1, 2, 3]),
    );
    assert.ok((await Deno.stat(`${dir}/ns/a/b.bin`)).isFile);
    assert.deepEqual(store.toDict(), {
      type: "hello",
      path: dir,
      namespace: "ns",
    });
    assert.deepEqual(store.permissions(), {
      read: [`${dir}/ns`],
      write: [`${dir}/ns`],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
