// Fails when the built package outgrows size-budget.json (gzip -9 sizes, bytes).
// What the page loads is found by following the static imports of each entry
// module (the loader, then each wasm module's glue, which scripts/build-pkg.sh
// bundles with the helpers it imports), so a file added to the package is
// counted where it is loaded:
//   loader      pkg/segflow.js and what it imports statically;
//   first_load  the loader, the core glue and what it imports, and the core wasm:
//               everything before any call works;
//   content     the content glue and what it imports that the core did not
//               already load, and the content wasm: fetched only when there is
//               content.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = resolve(new URL('..', import.meta.url).pathname);
const budget = JSON.parse(readFileSync(join(root, 'size-budget.json'), 'utf8'));
const pkg = resolve(root, process.argv[2] || 'pkg');
const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;

/** `file` and every module it imports statically (`import ... from "./x.js"`), transitively. */
function closure(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)\s*(?:[\w*{}\s,$]+from\s*)?["'](\.[^"']+)["']/g)) {
    closure(resolve(dirname(file), m[1]), seen);
  }
  return seen;
}
const sum = (files) => [...files].reduce((n, f) => n + gz(f), 0);

const loader = join(pkg, 'segflow.js');
const coreJs = closure(join(pkg, 'segflow_core.js'));
const contentJs = [...closure(join(pkg, 'segflow_content.js'))].filter((f) => !coreJs.has(f));
const loaderJs = closure(loader);
const sizes = {
  loader: sum(loaderJs),
  first_load: sum(new Set([...loaderJs, ...coreJs])) + gz(join(pkg, 'segflow_core_bg.wasm')),
  content: sum(contentJs) + gz(join(pkg, 'segflow_content_bg.wasm')),
};
let failed = false;
for (const [name, size] of Object.entries(sizes)) {
  const limit = budget[name];
  const goal = budget.goals && budget.goals[name];
  const ok = typeof limit === 'number' && size <= limit;
  failed ||= !ok;
  const goalNote = goal ? `; goal ${goal} B: ${size <= goal ? 'met' : 'NOT met'}` : '';
  console.log(`${ok ? 'ok  ' : 'OVER'} ${name}: ${size} B gzipped (budget ${limit} B${goalNote})`);
}
if (failed) {
  console.error('the package is over its size budget (size-budget.json)');
  process.exit(1);
}
