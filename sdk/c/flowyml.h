/*
 * flowyml plugin ABI (protocol v1) for C, freestanding wasm32.
 *
 *   clang-14 --target=wasm32-unknown-unknown -O2 -nostdlib \
 *     -Wl,--no-entry -Wl,--export-dynamic -o plugin.wasm plugin.c
 *
 * Same host functions as the AssemblyScript SDK; see docs/protocol.md.
 * Requests are JSON objects with "v":1 and "op"; responses start with
 * {"ok":true or {"ok":false,"error":{"code":…,"message":…}}.
 */
#ifndef FLOWYML_H
#define FLOWYML_H
#include <stdint.h>

#define FLOWYML_IMPORT(name) __attribute__((import_module("extism:host/user"), import_name(name)))

/* Send a JSON request at ptr/len; returns the response length. */
FLOWYML_IMPORT("flowyml_call") int32_t flowyml_call(const void *ptr, int32_t len);
/* Copy the last response into dst (response-length bytes). */
FLOWYML_IMPORT("flowyml_response") void flowyml_response(void *dst);
/* The call's input JSON: its length, then copy it into dst. */
FLOWYML_IMPORT("flowyml_input_length") int32_t flowyml_input_length(void);
FLOWYML_IMPORT("flowyml_input") void flowyml_input(void *dst);
/* Set the call's output JSON. */
FLOWYML_IMPORT("flowyml_output") void flowyml_output(const void *ptr, int32_t len);
/* Bulk data handles: size, read at offset into guest memory, create, append. */
FLOWYML_IMPORT("flowyml_size") int64_t flowyml_size(int32_t handle);
FLOWYML_IMPORT("flowyml_read") int32_t flowyml_read(int32_t handle, int64_t offset, void *dst, int32_t len);
FLOWYML_IMPORT("flowyml_create") int32_t flowyml_create(int64_t size_hint);
FLOWYML_IMPORT("flowyml_write") int32_t flowyml_write(int32_t handle, const void *src, int32_t len);
/* Overwrite (or extend) writable handle `handle` at `offset` (<= its size). */
FLOWYML_IMPORT("flowyml_write_at") int32_t flowyml_write_at(int32_t handle, int64_t offset, const void *src, int32_t len);
/* Make read handle `handle` writable in place (its size counts as output); returns it. */
FLOWYML_IMPORT("flowyml_take") int32_t flowyml_take(int32_t handle);

/* Export a plugin operation: FLOWYML_EXPORT("normalize") int32_t normalize(void) { … return 0; } */
#define FLOWYML_EXPORT(name) __attribute__((export_name(name)))

/* Step inputs are handles 1…n in the order of the step's inputs. */
#define FLOWYML_FIRST_INPUT 1

/*
 * Orchestrator plugins (stack `orchestrator: { type: wasm, plugin: … }`, grants.orchestration: true)
 * export FLOWYML_SCHEDULE_EXPORT. The kernel calls it once per run; its input JSON
 * (flowyml_input) lists the run's steps: {"runId":…,"concurrency":n,"params":[names],
 * "steps":[{"name","inputs","outputs","upstream","resources","labels"}…]}. Drive the run with
 * flowyml_call requests:
 *
 *   {"v":1,"op":"orchestration.submit","step":"train"}
 *       -> {"ok":true,"ticket":"t3","status":"running"|"queued"}
 *          or {"ok":false,"error":{"code":"conflict","message":"not ready: upstream \"load\" …"}}
 *   {"v":1,"op":"orchestration.await","ticket":"t3","timeout_ms":200}     (timeout_ms optional)
 *       -> {"ok":true,"step":"train","status":"completed","done":true,"timed_out":false,…}
 *   {"v":1,"op":"orchestration.status","step":"train"}                    (step optional)
 *       -> {"ok":true,"steps":[{"step":"train","status":"pending","done":false}],"status":"pending"}
 *
 * Steps never submitted when schedule returns are skipped and the run fails naming them.
 */
#define FLOWYML_SCHEDULE_EXPORT "schedule"
#define FLOWYML_OP_SUBMIT "orchestration.submit"
#define FLOWYML_OP_AWAIT "orchestration.await"
#define FLOWYML_OP_STATUS "orchestration.status"

#endif
