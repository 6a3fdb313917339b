// Instantiates pkg/segflow_bg.wasm with its own glue in Node, so a broken optimiser
// output fails the build instead of the page.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = resolve(process.argv[2] || 'pkg');
const glue = await import(pathToFileURL(`${dir}/segflow.js`).href);
try {
  glue.initSync({ module: readFileSync(`${dir}/segflow_bg.wasm`) });
} catch (err) {
  console.error(`pkg/segflow_bg.wasm does not instantiate: ${err.message}`);
  process.exit(1);
}
