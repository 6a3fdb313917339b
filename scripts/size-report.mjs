// Prints one module's shipped gzipped size and its code and data grouped by where
// they come from (segflow's own modules, libcore/alloc, fmt, the allocator, data
// segments), from
// `twiggy top` output. Used by scripts/size.sh (`make size`).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const [name, wasm, top] = process.argv.slice(2);
const rows = [];
for (const line of readFileSync(top, 'utf8').split('\n')) {
  const m = line.match(/^\s*(\d+) ┊\s*[\d.]+% ┊ (.*)$/);
  if (m && !m[2].includes('"function names"') && !m[2].startsWith('Σ') && !m[2].startsWith('...')) rows.push([Number(m[1]), m[2]]);
}
const GROUPS = [
  [/^data segment/, 'data (strings, tables)'],
  [/vtable\.shim/, 'closure vtable shims'],
  // The modules' exports (src/web/entry.rs, src/web/content/api.rs), with the
  // API they inline.
  [/^(call|wake)$/, 'segflow::web::entry (exports, API inlined)'],
  [/^content_(call|wake)$/, 'segflow::web::content::api (exports, API inlined)'],
  [/segflow::core::(\w+)/, (m) => `segflow::core::${m[1]}`],
  [/segflow::web::content::(\w+)/, (m) => `segflow::web::content::${m[1]}`],
  [/segflow::web::(\w+)/, (m) => `segflow::web::${m[1]}`],
  [/talc/, 'talc (allocator)'],
  [/fmt/, 'core::fmt (panic paths)'],
  [/^<?alloc|alloc::/, 'alloc'],
  [/core|^<?\w+ as core/, 'libcore'],
];
const groups = new Map();
let total = 0;
for (const [bytes, item] of rows) {
  total += bytes;
  let group = 'other';
  for (const [re, label] of GROUPS) {
    const m = item.match(re);
    if (m) { group = typeof label === 'function' ? label(m) : label; break; }
  }
  groups.set(group, (groups.get(group) || 0) + bytes);
}
const gz = gzipSync(readFileSync(wasm), { level: 9 }).length;
console.log(`\n== ${name}: ${gz} B gzipped as shipped (${readFileSync(wasm).length} B raw)`);
console.log('bytes before gzip, by origin:');
for (const [group, bytes] of [...groups].sort((a, b) => b[1] - a[1])) {
  console.log(`${String(bytes).padStart(8)}  ${(100 * bytes / total).toFixed(1).padStart(5)}%  ${group}`);
}
