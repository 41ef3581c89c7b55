/**
 * The kernel's objectSchema (the local stack's config schemas, without zod)
 * validates, fills defaults, words its errors and renders JSON Schema as the
 * equivalent strict zod object does.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  localArtifactStoreSchema,
  localExecutorSchema,
  localOrchestratorSchema,
  workerExecutorSchema,
} from "../../plugins/local/config.ts";
import { INLINE_MAX_BYTES, sqliteMetadataStoreSchema } from "../../plugins/sqlite/config.ts";
import { objectSchema, type SchemaLike } from "../../kernel/schema.ts";

const name = z.string().optional();
const PAIRS: [string, SchemaLike & { toJSONSchema(): unknown }, z.ZodType][] = [
  [
    "local artifact store",
    localArtifactStoreSchema,
    z.object({
      name,
      path: z.string().default(".flowyml/artifacts").describe("folder holding the artifacts"),
    }).strict(),
  ],
  [
    "local orchestrator",
    localOrchestratorSchema,
    z.object({
      name,
      concurrency: z.number().int().positive().default(8).describe("max steps running at once"),
    }).strict(),
  ],
  ["local executor", localExecutorSchema, z.object({ name }).strict()],
  [
    "worker executor",
    workerExecutorSchema,
    z.object({
      name,
      workers: z.number().int().positive().optional().describe(
        "pool size (default: the number of CPU cores)",
      ),
    }).strict(),
  ],
  [
    "sqlite metadata store",
    sqliteMetadataStoreSchema,
    z.object({
      name,
      path: z.string().default(".flowyml/metadata.db").describe("database file, or :memory:"),
      busyTimeoutMs: z.number().int().nonnegative().default(10_000).describe(
        "wait this long for a lock",
      ),
      inlineMaxBytes: z.number().int().nonnegative().default(INLINE_MAX_BYTES).describe(
        "artifacts up to this size are stored in the database (0: never)",
      ),
    }).strict(),
  ],
  [
    "a required field",
    objectSchema({ url: { type: "string" } }),
    z.object({ url: z.string() })
      .strict(),
  ],
];

const INPUTS: unknown[] = [
  {},
  { name: "x" },
  { name: null },
  { path: 3 },
  { path: "p", name: "n" },
  { url: "u" },
  { concurrency: 0 },
  { concurrency: 2.5 },
  { concurrency: "3" },
  { concurrency: 4 },
  { concurrency: NaN },
  { concurrency: Infinity },
  { workers: 0 },
  { workers: 3 },
  { busyTimeoutMs: -1 },
  { busyTimeoutMs: 0 },
  { inlineMaxBytes: 1.5 },
  { zz: 1 },
  { zz: 1, yy: 2, path: 1 },
  null,
  [],
  "text",
];

/** A parse result as comparable text: the data, or each issue's path and message. */
function outcome(r: ReturnType<SchemaLike["safeParse"]>): string {
  if (r.success) return JSON.stringify(r.data);
  const issues = (r.error as { issues: { path: PropertyKey[]; message: string }[] }).issues;
  return JSON.stringify(issues.map((i) => [i.path.join("."), i.message]));
}

Deno.test("objectSchema: same results, messages and JSON Schema as the equivalent zod schema", () => {
  for (const [what, ours, theirs] of PAIRS) {
    assert.deepEqual(ours.toJSONSchema(), z.toJSONSchema(theirs, { io: "input" }), what);
    for (const input of INPUTS) {
      assert.equal(
        outcome(ours.safeParse(input)),
        outcome(theirs.safeParse(input)),
        `${what}: ${JSON.stringify(input)}`,
      );
    }
  }
  assert.throws(() => localOrchestratorSchema.parse({ concurrency: 0 }), /concurrency: Too small/);
  assert.deepEqual(localOrchestratorSchema.parse({}), { concurrency: 8 });
});
