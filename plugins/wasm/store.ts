/**
 * `WasmArtifactStore` (`type: wasm`): an artifact store whose object format
 * is implemented by a sandboxed plugin. Bytes go into the plugin's `write`
 * export and come back from its `read` export; the plugin itself stores and
 * fetches the encoded objects in an inner store through the broker, limited
 * by its grants. Listing and deleting go to the inner store directly.
 *
 * Its brokered calls are audited under the run and step they serve (the
 * step runner's run context, kernel/run_context.ts), as actor
 * `<plugin>@<step>`, in that run's metadata store; calls outside any run
 * (e.g. `flowyml artifacts get`) keep a bounded in-memory trail, `audit`.
 *
 * ```yaml
 * stacks:
 *   sealed:
 *     artifact_store: { type: wasm, plugin: checksum_store, inner: { type: local, path: ./.flowyml/sealed } }
 * ```
 * @module
 */
import { ArtifactStore, type StackLike, type StoredObject } from "../../kernel/contracts.ts";
import { ConfigError } from "../../kernel/errors.ts";
import type { AuditEvent } from "../../kernel/records.ts";
import { currentRunContext, useRunContext } from "../../kernel/run_context.ts";
import { getComponentRegistry } from "../../kernel/registry.ts";
import { PluginViolationError } from "../../kernel/sandbox/errors.ts";
import { invokePlugin } from "../../kernel/sandbox/runtime.ts";
import { type WasmArtifactStoreOptions, wasmArtifactStoreSchema } from "./config.ts";

/** Artifact store implemented by a WASM plugin over an inner store. */
export class WasmArtifactStore extends ArtifactStore {
  /** Registry type: `type: wasm` in `flowyml.yaml`. */
  static readonly type = "wasm";
  /** Validates the `artifact_store:` options of a stack. */
  static readonly configSchema: typeof wasmArtifactStoreSchema = wasmArtifactStoreSchema;
  /** Name of the plugin (under `plugins:`) that encodes and decodes objects. */
  readonly plugin: string;
  /** Config of the inner store the plugin writes to. Default `{ type: "local" }`. */
  readonly innerConfig: { type: string; [k: string]: unknown };
  #inner?: ArtifactStore;
  /** Audit events of brokered calls made outside any run. */
  readonly audit: AuditEvent[] = [];

  /** `innerStore`, when given, is used as the inner store instead of building one from `inner`. */
  constructor(options: WasmArtifactStoreOptions & { innerStore?: ArtifactStore }) {
    super(options.name ?? "wasm");
    useRunContext(); // its audit trail is written under the run and step each call serves
    this.plugin = options.plugin;
    this.innerConfig = options.inner ?? { type: "local" };
    this.#inner = options.innerStore;
  }

  async #store(): Promise<ArtifactStore> {
    if (!this.#inner) {
      const { type, ...rest } = this.innerConfig;
      if (type === "wasm") {
        throw new ConfigError("a wasm artifact store cannot wrap another wasm store");
      }
      this.#inner = await getComponentRegistry().create<ArtifactStore>(
        "artifact_store",
        type,
        rest,
      );
    }
    return this.#inner;
  }

  /** What a plugin call needs: the inner store, and where its audit goes (the run's store). */
  #call(inner: ArtifactStore): { runId: string; actor: string; stack: StackLike } {
    const audit = this.audit;
    const ctx = currentRunContext();
    const local = {
      recordAudit: (e: AuditEvent[]) => {
        audit.push(...e);
        if (audit.length > 10_000) audit.splice(0, audit.length - 10_000);
        return Promise.resolve();
      },
    };
    // The broker needs only the artifact store and somewhere to write audit events.
    const stack = {
      name: `wasm:${this.plugin}`,
      artifactStore: inner,
      metadataStore: ctx?.stack?.metadataStore ?? local,
    } as unknown as StackLike;
    return {
      runId: ctx?.runId ?? "(store)",
      actor: ctx?.step ? `${this.plugin}@${ctx.step}` : this.plugin,
      stack,
    };
  }

  /** `wasm+<plugin>:<path>`. */
  override uriFor(path: string): string {
    return `wasm+${this.plugin}:${path}`;
  }

  /** Hands the bytes to the plugin's `write` export, which stores them through the broker. */
  override async writeBytes(path: string, data: Uint8Array): Promise<void> {
    const inner = await this.#store();
    await invokePlugin(this.plugin, "write", {
      input: { v: 1, path },
      ...this.#call(inner),
      inputs: [data.slice().buffer as ArrayBuffer],
    });
  }

  /** Gets the bytes from the plugin's `read` export; a reply without data is a violation. */
  override async readBytes(path: string): Promise<Uint8Array> {
    const inner = await this.#store();
    const res = await invokePlugin(this.plugin, "read", {
      input: { v: 1, path },
      ...this.#call(inner),
    });
    const h = (res.json as { handle?: number } | null)?.handle;
    const buf = typeof h === "number" ? res.handles[h] : undefined;
    if (!buf) {
      throw new PluginViolationError(
        this.plugin,
        "malformed",
        `read of ${path} returned no data handle`,
      );
    }
    return new Uint8Array(buf);
  }

  /** Buffers the whole stream, then writes it with `writeBytes`. */
  override async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    await this.writeBytes(path, bytes);
    return bytes.length;
  }

  /** Reads the whole object with `readBytes`, as a one-chunk stream. */
  override async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    const bytes = await this.readBytes(path);
    return new ReadableStream({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    });
  }

  /** Checked on the inner store directly. */
  override async exists(path: string): Promise<boolean> {
    return (await this.#store()).exists(path);
  }

  /** Lists the inner store directly (encoded objects). */
  override async list(prefix?: string): Promise<StoredObject[]> {
    return (await this.#store()).list(prefix);
  }

  /** Deletes from the inner store directly. */
  override async delete(path: string): Promise<void> {
    await (await this.#store()).delete(path);
  }

  /** `{ type: "wasm", plugin, inner }`. */
  override toDict(): Record<string, unknown> {
    return { type: "wasm", plugin: this.plugin, inner: this.innerConfig };
  }
}
