// Instantiates each wasm module of the package with its own glue in Node, so a
// broken optimiser output (or a bad import rename) fails the build instead of the
// page. Instantiating checks every import is provided by the glue.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = resolve(process.argv[2] || 'pkg');
for (const name of ['segflow_core', 'segflow_content']) {
  const glue = await import(pathToFileURL(`${dir}/${name}.js`).href);
  try {
    glue.initSync({ module: readFileSync(`${dir}/${name}_bg.wasm`) });
  } catch (err) {
    console.error(`pkg/${name}_bg.wasm does not instantiate: ${err.message}`);
    process.exit(1);
  }
}
