// Renames each wasm module's imports to short names, in the wasm and in its
// wasm-bindgen glue together: wasm-bindgen names every import
// `__wbg_<name>_<16 hex digits>`, and with ~100 imports those names alone are
// kilobytes in both files (measured on the single-module build: 3.4 KB of wasm and
// 2 KB of glue, gzipped). Names become `a`, `b`, ..., `ba`, ... in order, and the
// import module names (`./<name>_bg.js`, snippet paths) become `0`, `1`, ...
//
// Usage: node scripts/shorten-imports.mjs <dir> <name>... (for <dir>/<name>_bg.wasm
// and <dir>/<name>.js). Fails loudly when a name cannot be found in the glue, so a
// wasm-bindgen upgrade that changes the glue's shape cannot go unnoticed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function uleb(bytes, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [result, pos];
  }
}

function encodeUleb(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const encodeName = (s) => {
  const b = Buffer.from(s, 'utf8');
  return [...encodeUleb(b.length), ...b];
};

/** Short name number `i`: a..z, then ba, bb, ... (never a JS keyword: `do`, `if`, `in` are skipped). */
function shortName(i) {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  do {
    s = letters[i % 26] + s;
    i = Math.floor(i / 26);
  } while (i);
  return s;
}

/** Reads the import section; returns { start, end, entries: [{module, name, desc}] }. */
function readImports(bytes) {
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, body] = uleb(bytes, pos + 1);
    if (id === 2) {
      let p = body;
      const [count, p1] = uleb(bytes, p);
      p = p1;
      const entries = [];
      for (let i = 0; i < count; i++) {
        const [ml, p2] = uleb(bytes, p);
        const module = bytes.subarray(p2, p2 + ml).toString('utf8');
        p = p2 + ml;
        const [nl, p3] = uleb(bytes, p);
        const name = bytes.subarray(p3, p3 + nl).toString('utf8');
        p = p3 + nl;
        const descStart = p;
        const kind = bytes[p++];
        if (kind === 0 || kind === 4) {
          if (kind === 4) p++;
          p = uleb(bytes, p)[1];
        } else if (kind === 1 || kind === 2) {
          if (kind === 1) p++;
          const flags = bytes[p++];
          p = uleb(bytes, p)[1];
          if (flags & 1) p = uleb(bytes, p)[1];
        } else if (kind === 3) {
          p += 2;
        } else {
          throw new Error(`unknown import kind ${kind}`);
        }
        entries.push({ module, name, desc: bytes.subarray(descStart, p) });
      }
      return { start: pos, end: body + size, entries };
    }
    pos = body + size;
  }
  return null;
}

const [dir, ...names] = process.argv.slice(2);
if (!dir || !names.length) {
  console.error('usage: node scripts/shorten-imports.mjs <dir> <name>...');
  process.exit(2);
}
for (const name of names) {
  const wasmPath = join(dir, `${name}_bg.wasm`);
  const gluePath = join(dir, `${name}.js`);
  const bytes = readFileSync(wasmPath);
  let glue = readFileSync(gluePath, 'utf8');
  const section = readImports(bytes);
  if (!section) continue;
  const renamed = new Map();
  const keywords = new Set(['do', 'if', 'in']);
  let n = 0;
  // wasm-bindgen's own imports live in the module "./<name>_bg.js" (renamed);
  // snippet imports are the snippets' export names (kept), from their paths.
  for (const e of section.entries) {
    if (e.module !== `./${name}_bg.js` || renamed.has(e.name)) continue;
    let short;
    do short = shortName(n++); while (keywords.has(short));
    renamed.set(e.name, short);
  }
  for (const [long, short] of renamed) {
    const pattern = new RegExp(`\\b${long.replace(/\$/g, '\\$')}\\b`, 'g');
    const before = glue;
    glue = glue.replace(pattern, short);
    if (glue === before) throw new Error(`${gluePath}: import ${long} not found in the glue`);
  }
  // Module names (each repeated once per import) become "0", "1", ... too: they
  // only appear as the keys of the glue's import object.
  const modules = new Map();
  for (const e of section.entries) if (!modules.has(e.module)) modules.set(e.module, String(modules.size));
  for (const [long, short] of modules) {
    const key = `${JSON.stringify(long)}:`;
    if (!glue.includes(key)) throw new Error(`${gluePath}: import module ${long} not found in the glue`);
    glue = glue.split(key).join(`${JSON.stringify(short)}:`);
  }
  const body = [...encodeUleb(section.entries.length)];
  for (const e of section.entries) {
    body.push(...encodeName(modules.get(e.module)), ...encodeName(renamed.get(e.name) ?? e.name), ...e.desc);
  }
  const out = Buffer.concat([
    bytes.subarray(0, section.start),
    Buffer.from([2, ...encodeUleb(body.length), ...body]),
    bytes.subarray(section.end),
  ]);
  writeFileSync(wasmPath, out);
  writeFileSync(gluePath, glue);
  console.error(`${name}: ${renamed.size} imports renamed, wasm ${bytes.length} -> ${out.length} B`);
}
