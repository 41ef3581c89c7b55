/**
 * `deno task ui:vendor`: copy the front-end library of `flowyml ui` (htm's
 * single-file Preact + htm + hooks bundle, from the npm package pinned in
 * deno.json) into cli/ui/static/vendor/, where it is committed: the page
 * works offline and needs no build step at run time.
 * @module
 */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const from = `${root}node_modules/htm/preact/standalone.module.js`;
const pkg = JSON.parse(await Deno.readTextFile(`${root}node_modules/htm/package.json`));
const to = fileURLToPath(new URL("./static/vendor/htm_preact.js", import.meta.url));
const body = await Deno.readTextFile(from);
await Deno.writeTextFile(
  to,
  `/* htm ${pkg.version} preact/standalone (Preact + htm + hooks), htm Apache-2.0, Preact MIT; copied by deno task ui:vendor */\n${body}`,
);
console.log(`wrote ${to} (${body.length} bytes) from htm ${pkg.version}`);
