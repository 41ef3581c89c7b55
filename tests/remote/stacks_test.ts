/** The example stacks validate against the registered (lazy) component schemas. */
import assert from "node:assert/strict";
import { type ComponentKind, getComponentRegistry, parseConfig, stackConfig } from "../../mod.ts";

Deno.test("examples/stacks/flowyml.yaml: local, minio and gcp stacks validate without loading clients", async () => {
  const text = await Deno.readTextFile(
    new URL("../../examples/stacks/flowyml.yaml", import.meta.url),
  );
  const config = parseConfig(text, { file: "examples/stacks/flowyml.yaml", env: () => undefined });
  const reg = getComponentRegistry();
  const types: Record<string, string> = {};
  for (const name of ["local", "minio", "gcp"]) {
    const sc = stackConfig(config, name);
    for (
      const kind of ["artifact_store", "metadata_store", "container_registry"] as ComponentKind[]
    ) {
      const cc = sc[kind as keyof typeof sc] as { type: string } | undefined;
      if (!cc) continue;
      const { type, ...opts } = cc;
      await reg.validateConfig(kind, type, opts, `stacks.${name}.${kind}`);
      types[`${name}.${kind}`] = type;
    }
  }
  assert.equal(types["minio.artifact_store"], "minio");
  assert.equal(types["gcp.artifact_store"], "gcs");
  assert.equal(types["gcp.container_registry"], "gcr");
  for (
    const [kind, type] of [["artifact_store", "minio"], ["artifact_store", "s3"], [
      "artifact_store",
      "gcs",
    ], ["container_registry", "oci"]] as const
  ) {
    const e = reg.entry(kind, type);
    assert.ok(e?.load && !e.cls, `${kind} ${type} is registered lazily`);
    assert.ok(await reg.schemaOf(kind, type), `${kind} ${type} has a config schema`);
  }
  await assert.rejects(
    () => reg.validateConfig("artifact_store", "minio", { bucket: "Bad_Bucket" }),
    /endpoint[\s\S]*|bucket/,
  );
});
