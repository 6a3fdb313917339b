// Fails when the built package outgrows size-budget.json (gzip -9 sizes).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = resolve(new URL('..', import.meta.url).pathname);
const budget = JSON.parse(readFileSync(join(root, 'size-budget.json'), 'utf8'));
const pkg = join(root, 'pkg');
const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
const walk = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? walk(p) : [p];
});
const sizes = {
  'segflow_bg.wasm': gz(join(pkg, 'segflow_bg.wasm')),
  'segflow.js': gz(join(pkg, 'segflow.js')),
  snippets: walk(join(pkg, 'snippets')).filter((f) => f.endsWith('.js')).reduce((n, f) => n + gz(f), 0),
};
let failed = false;
for (const [name, size] of Object.entries(sizes)) {
  const limit = budget[name];
  const ok = size <= limit;
  failed ||= !ok;
  console.log(`${ok ? 'ok  ' : 'OVER'} ${name}: ${size} B gzipped (budget ${limit} B)`);
}
if (failed) {
  console.error('the package is over its size budget (size-budget.json)');
  process.exit(1);
}
