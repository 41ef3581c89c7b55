/**
 * Shared test helpers: temp folders, free ports, and the rule for tests that
 * need a real server — skip loudly when it is missing, fail under `CI=true`.
 * @module
 */

/** True when running in CI (`CI=true`): a missing server is then a failure. */
export const IN_CI = Deno.env.get("CI") === "true";

/** A fresh temp folder, removed by the returned `cleanup`. */
export async function tempDir(
  prefix = "flowyml-test-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, cleanup: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** A TCP port that is free on 127.0.0.1 right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** True when `cmd` is an executable on PATH (or an absolute path that exists). */
export function hasBinary(cmd: string): boolean {
  if (cmd.startsWith("/")) {
    try {
      return Deno.statSync(cmd).isFile;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Decide whether a service-backed test can run. When `available` is false it
 * prints a loud SKIP banner, or throws under `CI=true`.
 *
 * @returns `true` when the test should run.
 */
export function requireService(name: string, available: boolean, howToInstall: string): boolean {
  if (available) return true;
  const msg = `${name} is not available here (${howToInstall})`;
  if (IN_CI) throw new Error(`CI=true and ${msg}: a missing server is a failure in CI`);
  console.warn(`\n!!! SKIPPED: ${msg}. Run .ci/run (or install it) to run this test. !!!\n`);
  return false;
}

/** The real deno binary (not the npm Node wrapper, which does not forward signals). */
export function denoBin(): string {
  return Deno.execPath();
}

/**
 * Stop a child process: SIGTERM, then SIGKILL if it is still running after
 * `graceMs`. Resolves once it has exited; a process already gone is fine.
 */
export async function stopChild(child: Deno.ChildProcess, graceMs = 3000): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, graceMs);
  await child.status;
  clearTimeout(t);
}
