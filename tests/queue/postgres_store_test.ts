/**
 * `PostgresMetadataStore` against a throwaway PostgreSQL 15 cluster: the same
 * contract as the SQLite store (run side by side), migrations, errors.
 * @module
 */
import assert from "node:assert/strict";
import { requireService, tempDir } from "../_helpers.ts";
import { POSTGRES_HOW, postgresAvailable, startPostgres } from "../services/postgres.ts";
import { checkMetadataContract } from "./_metadata_contract.ts";
import { SQLiteMetadataStore } from "../../plugins/sqlite/metadata_store.ts";
import { PostgresMetadataStore } from "../../plugins/postgres/metadata_store.ts";
import { MIGRATIONS } from "../../plugins/postgres/migrations.ts";
import { MIGRATIONS as SQLITE_MIGRATIONS } from "../../plugins/sqlite/migrations.ts";
import { getComponentRegistry } from "../../kernel/registry.ts";
import { FlowymlError } from "../../kernel/errors.ts";
import { freePort } from "../_helpers.ts";
import "../../plugins/mod.ts";
import { register } from "../../plugins/postgres/register.ts";

Deno.test("metadata contract: SQLite store", async () => {
  const dir = await tempDir();
  const store = new SQLiteMetadataStore({ path: `${dir.path}/m.db` });
  try {
    await checkMetadataContract(store);
  } finally {
    store.close();
    await dir.cleanup();
  }
});

const run = requireService("PostgreSQL 15", postgresAvailable(), POSTGRES_HOW);

Deno.test({
  name: "metadata contract: PostgreSQL store, migrations, schemas and errors",
  ignore: !run,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg = await startPostgres();
    try {
      await t.step("same contract as SQLite (public schema)", async () => {
        const url = await pg.createDatabase("contract_public");
        const store = new PostgresMetadataStore({ url });
        try {
          await checkMetadataContract(store);
          assert.equal(await store.schemaVersion(), MIGRATIONS.length);
          assert.equal(
            MIGRATIONS.length,
            SQLITE_MIGRATIONS.length,
            "same migration versions as SQLite",
          );
        } finally {
          await store.close();
        }
      });

      await t.step("own schema; concurrent first starts migrate once", async () => {
        const url = await pg.createDatabase("contract_schema");
        const stores = [1, 2, 3].map(() => new PostgresMetadataStore({ url, schema: "flowyml" }));
        try {
          const versions = await Promise.all(stores.map((s) => s.schemaVersion()));
          assert.deepEqual(versions, stores.map(() => MIGRATIONS.length));
          await checkMetadataContract(stores[0]);
          // Another process (store) sees the same history.
          assert.equal((await stores[1].getRun("p-1"))?.pipeline, "p");
          const sql = await stores[2].sql();
          const applied = await sql`SELECT version FROM flowyml.schema_migrations ORDER BY version`;
          assert.deepEqual(applied.map((r) => r.version), MIGRATIONS.map((_, i) => i + 1));
          const pub = await sql`SELECT count(*)::int n FROM information_schema.tables
            WHERE table_schema = 'public' AND table_name = 'runs'`;
          assert.equal(pub[0].n, 0, "tables live in the configured schema only");
        } finally {
          for (const s of stores) await s.close();
        }
      });

      await t.step("reopening an up-to-date database applies nothing", async () => {
        const url = await pg.createDatabase("contract_reopen");
        const a = new PostgresMetadataStore({ url });
        await a.createRun({
          runId: "r",
          pipeline: "p",
          status: "running",
          stack: "s",
          params: {},
          startedAt: 1,
        });
        await a.close();
        const b = new PostgresMetadataStore({ url });
        assert.equal(await b.schemaVersion(), MIGRATIONS.length);
        assert.equal((await b.getRun("r"))?.status, "running");
        await b.close();
      });

      await t.step("clear errors: refused connection, bad password, missing database", async () => {
        const dead = new PostgresMetadataStore({
          url: `postgres://u:secret@127.0.0.1:${freePort()}/db`,
          connectTimeoutS: 3,
        });
        const e1 = await dead.validate().then(() => undefined, (e) => e);
        assert.ok(e1 instanceof FlowymlError, String(e1));
        assert.match(e1.message, /cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1/);
        assert.doesNotMatch(e1.message, /secret/);
        assert.match(e1.message, /fix: start the server/);
        const badPw = new PostgresMetadataStore({ url: pg.url.replace(/:[^:@]+@/, ":wrong@") });
        await assert.rejects(
          badPw.validate(),
          /authentication failed.*\n.*fix: check the user and password/,
        );
        const noDb = new PostgresMetadataStore({
          url: pg.url.replace(/\/postgres$/, "/missing_db"),
        });
        await assert.rejects(noDb.validate(), /does not exist\n.*fix: create the database/);
        assert.equal(
          new PostgresMetadataStore({ url: pg.url }).toDict().url,
          pg.url.replace(/:[^:@]+@/, ":***@"),
        );
      });

      await t.step("registered lazily as metadata_store type postgres", async () => {
        const reg = getComponentRegistry();
        register(reg);
        await assert.rejects(
          () =>
            reg.validateConfig(
              "metadata_store",
              "postgres",
              {},
              "flowyml.yaml: stacks.c.metadata_store",
            ),
          /url/,
        );
        const url = await pg.createDatabase("contract_registry");
        const store = await reg.create("metadata_store", "postgres", { url });
        assert.ok(store instanceof PostgresMetadataStore);
        assert.equal(await store.validate(), true);
        await store.close();
      });
    } finally {
      await pg.stop();
    }
  },
});
