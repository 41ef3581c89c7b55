import assert from "node:assert/strict";
import {
  buildStack,
  ConfigError,
  interpolate,
  parseConfig,
  stackConfig,
  stackConfigError,
  stackNames,
} from "../../mod.ts";

const env = (vars: Record<string, string>) => (n: string) => vars[n];

Deno.test("config: the seed's format parses, with ${VAR} and ${VAR:-default}", () => {
  const c = parseConfig(
    `
default_stack: custom_stack
stacks:
  custom_stack:
    type: local
    artifact_store:
      type: local
      path: \${ART_DIR:-/tmp/art}
    metadata_store:
      type: sqlite
      path: \${DB}
resources:
  default:
    cpu: "2"
    memory: "8Gi"
`,
    { file: "flowyml.yaml", env: env({ DB: "/tmp/x.db" }) },
  );
  assert.equal(c.default_stack, "custom_stack");
  const s = stackConfig(c, "custom_stack");
  assert.equal(s.artifact_store?.path, "/tmp/art");
  assert.equal(s.metadata_store?.path, "/tmp/x.db");
  assert.equal(s.orchestrator?.type, "local", "missing components are the local ones");
  assert.deepEqual(c.resources.default, { cpu: "2", memory: "8Gi" });
  assert.equal(interpolate("a$${B}c", { env: env({}) }), "a${B}c", "$${ escapes");
});

Deno.test("config: an unset variable is an error naming the variable, file and key, when its stack is used", () => {
  const config = parseConfig(
    "default_stack: prod\nstacks:\n  dev: {}\n  prod:\n    artifact_store:\n      type: local\n" +
      "      path: ${MISSING_DIR}\n",
    { file: "conf/flowyml.yaml", env: env({}) },
  );
  // The other stacks stay usable: a production secret unset on a laptop blocks only production.
  assert.deepEqual(Object.keys(config.stacks), ["dev"]);
  assert.equal(stackConfig(config, "dev").artifact_store?.type, "local");
  assert.deepEqual(stackNames(config), ["local", "dev", "prod"]);
  assert.ok(stackConfigError(config, "prod") instanceof ConfigError);
  assert.equal(stackConfigError(config, "dev"), undefined);
  assert.throws(
    () => stackConfig(config, "prod"),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /conf\/flowyml\.yaml at stacks\.prod\.artifact_store\.path/);
      assert.match(e.message, /MISSING_DIR is not set/);
      assert.doesNotMatch(e.message, /\$\{MISSING_DIR\}\s*$/);
      return true;
    },
  );
});

Deno.test("config: schema errors give the key path; unknown types list the registered ones", async () => {
  assert.throws(
    () => parseConfig("stacks:\n  a:\n    orchestrator: {}\n"),
    /stacks\.a\.orchestrator\.type/,
  );
  assert.throws(
    () => parseConfig("stacks:\n  a:\n    orchestrater: {type: local}\n"),
    /orchestrater/,
  );
  assert.throws(() => parseConfig("stacks: [1, 2"), /not valid YAML/);
  assert.throws(
    () => parseConfig("default_stack: nope\nstacks: {}\n"),
    /default_stack "nope" is not defined/,
  );
  const c = parseConfig("stacks:\n  a:\n    artifact_store: {type: airflowz}\n");
  await assert.rejects(buildStack(c, "a"), (e: Error) => {
    assert.match(e.message, /unknown artifact_store type "airflowz"/);
    assert.match(e.message, /registered artifact_store types: .*local/);
    return true;
  });
  const bad = parseConfig("stacks:\n  a:\n    artifact_store: {type: local, pth: x}\n");
  await assert.rejects(buildStack(bad, "a"), /stacks\.a\.artifact_store.*pth/);
  assert.throws(() => stackConfig(c, "ghost"), /no stack named "ghost"/);
});

Deno.test("config: stack paths resolve against the config file's folder", () => {
  const config = parseConfig(
    `stacks:
  s:
    orchestrator: { type: local, dag_folder: dags, cacheDir: ./c, home: "~/h", concurrency: 2 }
    artifact_store: { type: local, path: art, endpoint: "host:9000" }
    metadata_store: { type: sqlite, path: ":memory:" }
    executor: { type: local, root: /abs, url_path: "https://x/y" }
`,
    { file: "/proj/flowyml.yaml" },
  );
  assert.deepEqual(stackConfig(config, "s"), {
    orchestrator: {
      type: "local",
      dag_folder: "/proj/dags",
      cacheDir: "/proj/c",
      home: "~/h",
      concurrency: 2,
    },
    artifact_store: { type: "local", path: "/proj/art", endpoint: "host:9000" },
    metadata_store: { type: "sqlite", path: ":memory:" },
    executor: { type: "local", root: "/abs", url_path: "https://x/y" },
  });
  assert.equal(stackConfig(config, "local").metadata_store?.path, "/proj/.flowyml/metadata.db");
  // In the current folder, paths stay as written.
  const here = parseConfig(`stacks: { s: { artifact_store: { type: local, path: art } } }`, {
    file: "flowyml.yaml",
  });
  assert.equal(stackConfig(here, "s").artifact_store?.path, "art");
});

Deno.test("config: the file's shape is checked without zod, with zod-style messages and key paths", () => {
  const cases: [string, RegExp][] = [
    [
      "stacks:\n  a:\n    orchestrator: {type: 3}\n",
      /stacks\.a\.orchestrator\.type: Invalid input: expected string, received number/,
    ],
    [
      "stacks:\n  a:\n    executor: {type: ''}\n",
      /stacks\.a\.executor\.type: type must not be empty/,
    ],
    ["stacks:\n  a: [1]\n", /stacks\.a: Invalid input: expected object, received array/],
    [
      "stacks:\n  a: {orchestrater: {type: local}, extra: 1}\n",
      /stacks\.a: Unrecognized keys: "orchestrater", "extra"/,
    ],
    [
      "resources:\n  big: {cpu: true}\n",
      /resources\.big\.cpu: Invalid input: expected string \| number, received boolean/,
    ],
    [
      "resources:\n  big: {labels: [a, 2]}\n",
      /resources\.big\.labels\.1: Invalid input: expected string, received number/,
    ],
    ["plugins:\n  p: 3\n", /plugins\.p: Invalid input: expected object, received number/],
    ["default_stack: null\n", /default_stack: Invalid input: expected string, received null/],
    ["stackz: {}\n", /\(root\): Unrecognized key: "stackz"/],
    ["just text\n", /\(root\): Invalid input: expected object, received string/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseConfig(text), (e: Error) => {
      assert.ok(e instanceof ConfigError, text);
      assert.match(e.message, message, text);
      return true;
    });
  }
  const empty = parseConfig("");
  assert.deepEqual(
    [empty.stacks, empty.resources, empty.plugins, empty.default_stack],
    [{}, {}, {}, undefined],
  );
  const loose = parseConfig("stacks:\n  a:\n    artifact_store: {type: local, anything: [1]}\n");
  assert.deepEqual(loose.stacks.a.artifact_store, { type: "local", anything: [1] });
});
