/**
 * `flowyml ui` in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against a real `flowyml ui` subprocess over a store that
 * real `flowyml run`s filled (tests/ui/_project.ts). Screenshots of each page
 * go to $FLOWYML_UI_SCREENSHOTS (default: a temp folder), whose path is printed.
 * Skips loudly without chromium; fails under CI=true.
 * @module
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { hasBinary, requireService, stopChild, tempDir } from "../_helpers.ts";
import {
  addHostileStep,
  fillProject,
  flowyml,
  HOSTILE_STEP,
  spawnFlowyml,
  waitForLine,
} from "./_project.ts";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "test-token-0123456789abcdef";

interface Ctx {
  page: Page;
  base: string;
  dir: string;
  shots: string;
  runs: { demo1: string; demo2: string; hostile: string };
}

async function shot(c: Ctx, name: string): Promise<void> {
  await c.page.screenshot({ path: `${c.shots}/${name}.png`, fullPage: true });
}

/** Wait until the page's table body has `n` rows. */
async function rows(page: Page, n: number): Promise<void> {
  // (the page's CSP forbids eval, so no waitForFunction with a string)
  if (n) await page.locator("tbody tr").nth(n - 1).waitFor();
  await page.locator("tbody tr").nth(n).waitFor({ state: "detached" });
}

async function runIds(base: string, pipeline: string): Promise<string[]> {
  const r = await (await fetch(`${base}api/runs?pipeline=${pipeline}`)).json();
  return r.runs.map((x: { runId: string }) => x.runId).reverse(); // oldest first
}

async function runsListFilters(c: Ctx): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/runs`);
  await page.waitForSelector("[data-testid=runs-table] tbody tr");
  assert.equal(await page.locator("[data-testid=runs-table] tbody tr").count(), 3);
  await page.selectOption("[data-testid=filter-pipeline]", "flowers");
  await rows(page, 2);
  await page.selectOption("[data-testid=filter-pipeline]", "");
  await page.selectOption("[data-testid=filter-status]", "failed");
  await rows(page, 1);
  assert.equal(await page.locator("tbody tr").getAttribute("data-run"), c.runs.hostile);
  await page.selectOption("[data-testid=filter-status]", "");
  await rows(page, 3);
  await page.fill("[data-testid=search]", c.runs.demo2.slice(0, -3)); // a run id prefix
  await page.press("[data-testid=search]", "Enter");
  await rows(page, 1);
  assert.equal(await page.locator("tbody tr").getAttribute("data-run"), c.runs.demo2);
  await page.fill("[data-testid=search]", "epochs"); // text in the params
  await page.press("[data-testid=search]", "Enter");
  await rows(page, 2);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  await page.goto(`${c.base}#/runs?from=${tomorrow}`);
  await page.waitForSelector("text=0 run(s)");
  await page.goto(`${c.base}#/runs`);
  await page.waitForSelector("[data-testid=runs-table] tbody tr");
  await shot(c, "runs");
}

async function dagStatuses(c: Ctx): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/run/${c.runs.demo2}`);
  await page.waitForSelector("[data-testid=dag] [data-step=save_best]");
  const status = (s: string) =>
    page.locator(`[data-testid=dag] [data-step="${s}"]`).getAttribute("data-status");
  assert.equal(await status("load"), "cached", "the second demo run is served from the cache");
  assert.equal(await status("wasm_minmax"), "cached");
  assert.equal(await status("save_best"), "completed", "save_best has cache: false");
  assert.equal(await page.locator("[data-testid=dag] [data-step]").count(), 11);
  await page.waitForSelector("[data-testid=gantt]");
  await shot(c, "run_cached");
  await page.goto(`${c.base}#/run/${c.runs.demo1}`);
  await page.waitForSelector("[data-testid=dag] [data-step=evaluate][data-status=completed]");
  await page.waitForSelector("[data-testid=metrics] >> text=test_accuracy_lr_1");
  await shot(c, "run");
  await page.goto(`${c.base}#/run/${c.runs.hostile}`);
  await page.waitForSelector("[data-testid=dag] [data-step=boom]");
  assert.equal(await status("hostile_start"), "completed");
  assert.equal(await status("boom"), "failed");
  assert.equal(await status("after_boom"), "skipped");
  assert.match(await page.locator("[data-testid=run-error]").innerText(), /boom <img src=x/);
}

async function hostileText(c: Ctx, dialogs: string[]): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/run/${c.runs.hostile}`);
  const node = page.locator("[data-testid=dag] [data-step]").filter({ hasText: "<script>" });
  await node.first().waitFor();
  assert.equal(await page.locator("img[src=x]").count(), 0, "markup from the store is not parsed");
  await page.locator("[data-testid=params]").waitFor();
  assert.match(await page.locator("[data-testid=params]").innerText(), /<script>window.__pwned=1/);
  await page.goto(`${c.base}#/step/${c.runs.hostile}/hostile_start`);
  await page.waitForSelector("[data-testid=logs]");
  assert.equal(await page.locator("[data-testid=logs]").innerText(), "<b>log line</b> with markup");
  assert.equal(await page.locator("[data-testid=logs] b").count(), 0);
  await page.goto(`${c.base}#/step/${c.runs.hostile}/${encodeURIComponent(HOSTILE_STEP)}`);
  await page.waitForSelector("[data-testid=step-name]");
  assert.equal(await page.locator("[data-testid=step-name]").innerText(), HOSTILE_STEP);
  await shot(c, "hostile_step");
  assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
  assert.deepEqual(dialogs, []);
}

async function artifactAndLineage(c: Ctx): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/run/${c.runs.demo1}`);
  await page.click("[data-testid=artifacts] >> text=petal_length_scaled");
  await page.waitForSelector("[data-testid=preview-stats]");
  assert.match(await page.locator("[data-testid=preview-stats]").innerText(), /Float64Array\s+600/);
  await page.waitForSelector("[data-testid=histogram] rect");
  await shot(c, "artifact_typed_array");
  // up: the WASM step that produced it, then its input; down: the step that consumed it
  await page.click("[data-testid=producers] >> text=wasm_minmax");
  await page.waitForSelector("[data-testid=step-name] >> text=wasm_minmax");
  await page.click("text=petal_length >> nth=0");
  await page.waitForSelector("[data-testid=artifact-name] >> text=petal_length");
  await page.waitForSelector("[data-testid=producers] >> text=petal_length_column");
  await page.click("[data-testid=consumers] >> text=wasm_minmax >> nth=0");
  await page.waitForSelector("[data-testid=outputs] >> text=petal_length_scaled");
  await page.click("[data-testid=outputs] >> text=petal_length_scaled");
  await page.click("[data-testid=consumers] >> text=profile >> nth=0");
  await page.waitForSelector("[data-testid=step-name] >> text=profile");
  // step logs are kept by attempt and searchable
  await page.goto(`${c.base}#/step/${c.runs.demo1}/evaluate`);
  await page.waitForSelector("[data-testid=logs]");
  assert.equal((await page.locator("[data-testid=logs]").innerText()).split("\n").length, 3);
  await page.fill("[data-testid=log-search]", "lr=0.1:");
  await page.waitForSelector("[data-testid=logs] >> text=/^lr=0\\.1: test accuracy/");
  assert.equal((await page.locator("[data-testid=logs]").innerText()).split("\n").length, 1);
  await shot(c, "step_logs");
  // the best model: JSON preview, made by two runs (the second a cache hit) across runs
  await page.goto(`${c.base}#/run/${c.runs.demo1}`);
  await page.click("[data-testid=artifacts] >> text=best_model");
  await page.waitForSelector("[data-testid=preview-json]");
  assert.match(await page.locator("[data-testid=preview-json]").innerText(), /"trainLoss"/);
  await page.waitForSelector("[data-testid=lineage-graph] [data-kind=step]");
  await page.waitForSelector(`[data-testid=consumers] >> text=${c.runs.demo1}`);
  await shot(c, "artifact_lineage");
  const href = await page.locator("[data-testid=download]").getAttribute("href");
  const res = await page.request.get(new URL(href!, c.base).href);
  assert.equal(res.status(), 200);
  assert.ok(JSON.parse(await res.text()).W, "download gives the stored JSON bytes of the model");
}

async function compare(c: Ctx): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/runs?pipeline=flowers`);
  await rows(page, 2);
  await page.locator("[data-testid=pick]").nth(0).check();
  await page.locator("[data-testid=pick]").nth(1).check();
  await page.click("[data-testid=compare-link]");
  await page.waitForSelector("[data-testid=compare-steps] [data-step=load]");
  const row = (s: string) => page.locator(`[data-testid=compare-steps] [data-step="${s}"]`);
  assert.equal(await row("load").getAttribute("data-differs"), "true", "cached vs completed");
  assert.match(await row("load").innerText(), /cached/);
  assert.match(await page.locator("[data-testid=compare-metrics]").innerText(), /train_loss/);
  assert.match(await page.locator("[data-testid=compare-params]").innerText(), /epochs\s+20\s+20/);
  await shot(c, "compare");
}

async function audit(c: Ctx): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}#/run/${c.runs.demo1}`);
  await page.click("text=/audit \\(\\d+ calls/");
  await page.waitForSelector("[data-testid=audit-table] tbody tr");
  assert.match(await page.locator("[data-testid=audit-table]").innerText(), /normalize/);
  assert.match(await page.locator("[data-testid=audit-summary]").innerText(), /0 denied/);
  await page.selectOption("[data-testid=audit-op]", "call");
  await rows(page, 1);
  await page.selectOption("[data-testid=audit-allowed]", "denied");
  await page.waitForSelector("[data-testid=audit-summary] >> text=0 call(s)");
  await page.goto(`${c.base}#/audit`);
  await page.waitForSelector("[data-testid=audit-table] tbody tr");
  await shot(c, "audit");
  await page.goto(`${c.base}#/stacks`);
  await page.waitForSelector("[data-testid=plugins] >> text=normalize");
  await page.waitForSelector("[data-testid=components] >> text=sqlite");
  await shot(c, "stacks");
}

async function liveRun(c: Ctx): Promise<void> {
  const { page } = c;
  const run = spawnFlowyml(c.dir, ["run", "gated.ts"]);
  try {
    let id: string | undefined;
    while (!id) [id] = await runIds(c.base, "gated");
    await page.goto(`${c.base}#/run/${id}`);
    await page.waitForSelector("[data-testid=dag] [data-step=gate][data-status=running]");
    assert.equal(
      await page.locator("[data-testid=dag] [data-step=last]").getAttribute("data-status"),
      "pending",
      "a step that has not started is drawn from the recorded pipeline shape",
    );
    await shot(c, "run_live");
    await page.evaluate(() => ((globalThis as { __sameDocument?: number }).__sameDocument = 1));
    await Deno.writeTextFile(`${c.dir}/.flowyml/release`, "go"); // the gate step waits for it
    await page.waitForSelector("[data-testid=dag] [data-step=last][data-status=completed]");
    await page.waitForSelector("h1 [data-status=completed]");
    const same = await page.evaluate(() =>
      (globalThis as { __sameDocument?: number }).__sameDocument
    );
    assert.equal(same, 1, "updated in place by server-sent events, without a reload");
  } finally {
    await run.stdout.cancel();
    await run.stderr.cancel();
    await run.status;
  }
}

async function readOnlyByDefault(c: Ctx): Promise<void> {
  const res = await c.page.request.post(`${c.base}api/run/${c.runs.hostile}/resume`, {
    headers: { "x-flowyml-action": "1" },
  });
  assert.equal(res.status(), 403, "no actions without --allow-actions");
  await c.page.goto(`${c.base}#/run/${c.runs.hostile}`);
  await c.page.waitForSelector("text=read-only (start with --allow-actions to resume)");
  assert.equal(await c.page.locator("[data-testid=resume]").count(), 0);
}

async function tokenOnNonLocalBind(c: Ctx, browser: Browser): Promise<void> {
  const refused = await flowyml(c.dir, ["ui", "--host", "127.0.0.2", "--port", "0"]);
  assert.equal(refused.code, 1);
  assert.match(refused.out, /needs an access token/);
  const ui = spawnFlowyml(c.dir, [
    "ui",
    "--host",
    "127.0.0.2",
    "--port",
    "0",
    "--token",
    TOKEN,
    "--allow-actions",
  ]);
  try {
    const [, url] = await waitForLine(ui, /open (http:\/\/127\.0\.0\.2:\d+\/\?token=\S+)/);
    const base = url.replace(/\?token=.*/, "");
    for (const path of ["", "api/runs", "static/app.js", `api/run/${c.runs.demo1}/events`]) {
      const res = await fetch(base + path);
      await res.body?.cancel();
      assert.equal(res.status, 401, `${path} without the token`);
    }
    const wrong = await fetch(`${base}api/runs`, { headers: { authorization: "Bearer nope" } });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${base}api/runs`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal((await ok.json()).total, 4, "3 filled runs and the live one");
    const page = await browser.newPage();
    await page.goto(url); // sets the cookie, then the page and its API calls work
    await page.waitForSelector("[data-testid=runs-table] tbody tr");
    // --allow-actions: "resume" on the failed run runs `flowyml runs resume`, which re-runs boom
    const before = Date.now();
    await page.goto(`${base}#/run/${c.runs.hostile}`);
    await page.click("[data-testid=resume]");
    await page.waitForSelector("text=/resuming \\(pid \\d+\\)/");
    const boomStart = async () => {
      const r = await page.request.get(`${base}api/step/${c.runs.hostile}/boom`);
      return (await r.json()).step.startedAt as number;
    };
    while ((await boomStart()) < before) await new Promise((r) => setTimeout(r, 100));
    await page.waitForSelector("h1 [data-status=failed]"); // boom fails again, live on the page
    await page.close();
  } finally {
    await stopChild(ui);
  }
}

Deno.test({
  name: "flowyml ui in chromium: runs filters, DAG statuses, live run, artifacts, lineage, " +
    "compare, audit, token, escaping",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (!requireService("chromium", hasBinary(CHROMIUM), "apt-get install chromium")) return;
    const shots = Deno.env.get("FLOWYML_UI_SCREENSHOTS") ??
      await Deno.makeTempDir({ prefix: "flowyml-ui-screenshots-" });
    await Deno.mkdir(shots, { recursive: true });
    const proj = await tempDir("flowyml-ui-test-");
    await fillProject(proj.path);
    const ui = spawnFlowyml(proj.path, ["ui", "--port", "0"]);
    let browser: Browser | undefined;
    try {
      const [, base] = await waitForLine(ui, /open (http:\/\/127\.0\.0\.1:\d+\/)/);
      const [demo1, demo2] = await runIds(base, "flowers");
      const [hostile] = await runIds(base, "hostile");
      await addHostileStep(proj.path, hostile);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      page.setDefaultTimeout(15_000);
      const dialogs: string[] = [];
      page.on("dialog", (d) => (dialogs.push(d.message()), d.dismiss()));
      const c: Ctx = { page, base, dir: proj.path, shots, runs: { demo1, demo2, hostile } };
      await t.step("runs list filters", () => runsListFilters(c));
      await t.step("DAG statuses (cached, completed, failed, skipped)", () => dagStatuses(c));
      await t.step("store text with <script> never runs", () => hostileText(c, dialogs));
      await t.step(
        "artifact preview, download and lineage navigation",
        () => artifactAndLineage(c),
      );
      await t.step("compare two runs", () => compare(c));
      await t.step("audit trail and stacks", () => audit(c));
      await t.step("a run in flight updates live", () => liveRun(c));
      await t.step("read-only by default", () => readOnlyByDefault(c));
      await t.step(
        "token on a non-local bind; resume with --allow-actions",
        () => tokenOnNonLocalBind(c, browser!),
      );
    } finally {
      await browser?.close();
      await stopChild(ui);
      await proj.cleanup();
      console.log(`flowyml ui screenshots: ${shots}`);
    }
  },
});
