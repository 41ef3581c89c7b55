/**
 * Plugin module-graph integrity: lives in the kernel (`kernel/integrity.ts`), since
 * `Pipeline.run()` verifies `flowyml.lock` too; re-exported here for the CLI.
 * @module
 */
export * from "../kernel/integrity.ts";
