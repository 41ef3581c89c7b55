/**
 * docs/protocol.md against the broker's op table (kernel/sandbox/ops/): every op in the table is
 * documented, every documented op exists, the documented fields (`?`: optional) are the schema's,
 * the grant column names the op's grant, and every example request in the doc validates.
 */
import assert from "node:assert/strict";
import { OPS, validateRequest } from "../../kernel/sandbox/ops/table.ts";
import type { Op } from "../../kernel/sandbox/ops/types.ts";

const DOC = new URL("../../docs/protocol.md", import.meta.url);

const ticks = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
const cells = (line: string) => line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());

interface DocOp {
  fields: string[];
  grant: string;
}

/** The rows of the op table (header `| op | fields | grant | result |`). */
function documentedOps(markdown: string): Map<string, DocOp> {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => /^\|\s*op\s*\|\s*fields\s*\|\s*grant\s*\|/.test(l));
  assert.ok(start >= 0, "docs/protocol.md has no `| op | fields | grant | result |` table");
  const out = new Map<string, DocOp>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [op, fields, grant] = cells(line);
    out.set(ticks(op)[0] ?? op, { fields: ticks(fields), grant });
  }
  return out;
}

/** The schema's fields as the doc writes them: `name`, or `name?` when optional. */
function schemaFields(op: Op): string[] {
  return Object.entries(op.schema.shape).map(([k, f]) =>
    (f as { safeParse(v: unknown): { success: boolean } }).safeParse(undefined).success
      ? `${k}?`
      : k
  );
}

/** Example requests: inline `{"v":1,"op":…}` and ```json blocks of a request with an op. */
function exampleRequests(markdown: string): string[] {
  return [
    ...[...markdown.matchAll(/`(\{"v":1,"op":[^`]*\})`/g)].map((m) => m[1]),
    ...[...markdown.matchAll(/```json\n(\{[^`]*?"v": 1, "op": "[a-z]+\.[a-z]+"[^`]*?\})\n```/g)]
      .map((m) => m[1]),
  ];
}

/** Every way `markdown` and the op table disagree; empty when they match. */
function checkProtocolDoc(markdown: string, ops: readonly Op[] = OPS): string[] {
  const doc = documentedOps(markdown);
  const problems: string[] = [];
  for (const op of ops) {
    const d = doc.get(op.name);
    if (!d) {
      problems.push(`op ${op.name} is not documented`);
      continue;
    }
    const want = schemaFields(op).sort().join(", ");
    const have = [...d.fields].sort().join(", ");
    if (want !== have) {
      problems.push(`op ${op.name}: documented fields [${have}], schema [${want}]`);
    }
    if (!d.grant.includes(op.grant)) {
      problems.push(`op ${op.name}: grant column "${d.grant}" does not name ${op.grant}`);
    }
  }
  for (const name of doc.keys()) {
    if (!ops.some((o) => o.name === name)) problems.push(`documented op ${name} does not exist`);
  }
  const examples = exampleRequests(markdown);
  for (const ex of examples) {
    const r = validateRequest(JSON.parse(ex));
    if ("malformed" in r) problems.push(`example ${ex} is refused: ${r.malformed}`);
  }
  return problems;
}

Deno.test("docs/protocol.md documents exactly the broker's ops, fields and grants", async () => {
  const md = await Deno.readTextFile(DOC);
  assert.deepEqual(checkProtocolDoc(md), []);
  assert.equal(documentedOps(md).size, OPS.length);
  assert.equal(exampleRequests(md).length, 4, "the artifacts.get example and 3 orchestration ones");
});

Deno.test("the doc check catches a missing op, a made-up op, a changed field and a bad example", async () => {
  const md = await Deno.readTextFile(DOC);
  const row = (name: string) => md.split("\n").find((l) => l.startsWith(`| \`${name}\``))!;
  const dropped = md.replace(row("env.get") + "\n", "");
  assert.deepEqual(checkProtocolDoc(dropped), ["op env.get is not documented"]);
  const invented = md.replace(row("log"), `${row("log")}\n| \`log.clear\` | | always | |`);
  assert.deepEqual(checkProtocolDoc(invented), ["documented op log.clear does not exist"]);
  const changed = md.replace(row("log"), row("log").replace("`level?`", "`level`"));
  assert.deepEqual(checkProtocolDoc(changed), [
    "op log: documented fields [level, message], schema [level?, message]",
  ]);
  const regranted = md.replace(row("env.get"), row("env.get").replace("grants.env", "grants.x"));
  assert.match(checkProtocolDoc(regranted).join(), /op env.get: grant column .* does not name env/);
  const bad = md.replace('"timeout_ms":200', '"timeout_ms":-1');
  assert.match(checkProtocolDoc(bad).join(), /is refused: timeout_ms: Too small/);
});
