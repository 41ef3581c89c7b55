/**
 * Run by broker_hostile_test.ts in a process holding only `--allow-run=<deno>`, like the
 * pipeline child with a plugin's net grant: a brokered request through the net helper works,
 * a direct `fetch` from this process (pipeline code) is refused. Prints one JSON line.
 * @module
 */
import { NetHelper } from "../../kernel/sandbox/net_helper.ts";

const host = `127.0.0.1:${Deno.args[0]}`;
const helper = NetHelper.spawn(["127.0.0.*:*"]);
const r = await helper.request({
  url: `http://${host}/brokered`,
  method: "GET",
  headers: {},
  secretHeaders: {},
  net: ["127.0.0.*:*"],
  maxBytes: 1000,
  timeoutMs: 5000,
});
await helper.dispose();
let direct = "allowed";
try {
  await (await fetch(`http://${host}/direct`)).body?.cancel();
} catch (e) {
  direct = (e as Error).name;
}
console.log(
  JSON.stringify({ brokered: r.ok ? new TextDecoder().decode(r.body) : r.message, direct }),
);
