// A GCS JSON API server for the test suite: firebase-tools' Node storage
// emulator loaded as a library (no Java, no downloads), with three patches:
//  1. the rules runtime is replaced with allow-all;
//  2. `/storage/v1/b…` is rewritten to `/b…`;
//  3. bucket insert, get and delete are answered here.
// Usage: node gcs_emulator.cjs <firebase-tools dir> <port> <projectId>
// Prints "READY <port>" when listening. Stop it with SIGTERM.
"use strict";
const path = require("node:path");
const [ftDir, portArg, projectId] = process.argv.slice(2);
const lib = path.join(ftDir, "node_modules", "firebase-tools", "lib", "emulator");
const express = require(path.join(ftDir, "node_modules", "express"));

const runtime = require(path.join(lib, "storage", "rules", "runtime"));
const allow = {
  permitted: true,
  issues: { errors: [], warnings: [], all: [], exist: () => false },
};
runtime.StorageRulesRuntime.prototype.start = function () {
  this._alive = true;
  return Promise.resolve();
};
runtime.StorageRulesRuntime.prototype.stop = function () {
  this._alive = false;
  return Promise.resolve();
};
runtime.StorageRulesRuntime.prototype.loadRuleset = function () {
  return Promise.resolve({
    issues: { errors: [], warnings: [], all: [], exist: () => false },
    ruleset: { verify: () => Promise.resolve(allow), unload: () => Promise.resolve() },
  });
};

const server = require(path.join(lib, "storage", "server"));
const original = server.createApp;
server.createApp = async function (defaultProjectId, emulator) {
  const inner = await original(defaultProjectId, emulator);
  const app = express();
  const buckets = () => emulator._buckets;
  const meta = (name) => ({
    kind: "storage#bucket",
    id: name,
    name,
    selfLink: `http://127.0.0.1:${portArg}/storage/v1/b/${name}`,
    projectNumber: "0",
    metageneration: "1",
    location: "US",
    storageClass: "STANDARD",
    etag: "CAE=",
    timeCreated: new Date(0).toISOString(),
    updated: new Date(0).toISOString(),
  });
  app.use((req, _res, next) => {
    if (req.url.startsWith("/storage/v1/b")) req.url = req.url.slice("/storage/v1".length);
    next();
  });
  app.post("/b", express.json(), (req, res) => {
    const name = req.body && req.body.name;
    if (!name) {
      return res.status(400).json({ error: { code: 400, message: "bucket name required" } });
    }
    if (buckets().has(name)) {
      return res.status(409).json({
        error: { code: 409, message: "You already own this bucket." },
      });
    }
    emulator.adminStorageLayer.createBucket(name);
    res.json(meta(name));
  });
  app.get("/b", (_req, res) => {
    res.json({ kind: "storage#buckets", items: [...buckets().keys()].map(meta) });
  });
  app.get("/b/:bucket", (req, res) => {
    if (!buckets().has(req.params.bucket)) {
      return res.status(404).json({
        error: { code: 404, message: "The specified bucket does not exist." },
      });
    }
    res.json(meta(req.params.bucket));
  });
  app.delete("/b/:bucket", (req, res) => {
    buckets().delete(req.params.bucket);
    res.status(204).end();
  });
  app.use(inner);
  return app;
};

const { StorageEmulator } = require(path.join(lib, "storage"));
const { EmulatorRegistry } = require(path.join(lib, "registry"));
(async () => {
  const emulator = new StorageEmulator({
    projectId,
    host: "127.0.0.1",
    port: Number(portArg),
    rules: { name: "storage.rules", content: "" },
    auto_download: false,
  });
  await EmulatorRegistry.start(emulator);
  process.stdout.write(`READY ${portArg}\n`);
  const stop = async () => {
    try {
      await EmulatorRegistry.stop(emulator.getName());
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
})().catch((err) => {
  process.stderr.write(`gcs emulator failed: ${err && err.stack || err}\n`);
  process.exit(1);
});
