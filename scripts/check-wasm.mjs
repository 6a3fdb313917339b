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

// Each module's stack is 256 KiB (build.rs): its memory starts with the stack, so
// its data begins at 262144. A build that lost the linker flag (a RUSTFLAGS in the
// environment replacing it, say) begins at 1 MiB and holds 0.75 MiB more per module.
const STACK = 262144;
function firstDataOffset(bytes) {
  let i = 8;
  const leb = () => {
    let r = 0, s = 0, b;
    do { b = bytes[i++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80);
    return r;
  };
  while (i < bytes.length) {
    const id = bytes[i++];
    const size = leb();
    const end = i + size;
    if (id === 11) {
      const count = leb();
      let min = Infinity;
      for (let k = 0; k < count; k++) {
        const flag = leb();
        if (flag !== 0 || bytes[i++] !== 0x41) throw new Error('unexpected data segment form');
        // i32.const's operand is a signed LEB128; offsets here are below 2^31.
        min = Math.min(min, leb());
        if (bytes[i++] !== 0x0b) throw new Error('unexpected data segment offset');
        const len = leb();
        i += len;
      }
      return min;
    }
    i = end;
  }
  return Infinity;
}
for (const name of ['segflow_core', 'segflow_content']) {
  const offset = firstDataOffset(readFileSync(`${dir}/${name}_bg.wasm`));
  if (offset !== STACK) {
    console.error(`pkg/${name}_bg.wasm: data begins at ${offset}, not ${STACK}: its stack is not the 256 KiB build.rs asks for`);
    process.exit(1);
  }
}
