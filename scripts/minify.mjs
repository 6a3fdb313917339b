// Minifies ES modules for pkg/: `node scripts/minify.mjs <in.js> <out.js>`.
// terser (pinned in package-lock.json) rather than esbuild's --minify: measured on
// this package, its output is smaller after gzip (the loader 2065 -> 1935 B, the
// core glue 4455 -> 4231 B, the content glue 4075 -> 3992 B), although hardly before.
// Export names, `import.meta.url` and the `import()` literals that bundlers follow
// are kept as written. The benchmark minifies analytics-next's bundle with the same
// `minifyModule`, so that both SDKs are measured minified alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

/** The minified text of the ES module `code`. */
export async function minifyModule(code) {
  const out = await minify(code, {
    module: true,
    ecma: 2020,
    compress: { passes: 2 },
    mangle: true,
    format: { comments: false },
  });
  return out.code;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node scripts/minify.mjs <in.js> <out.js>');
    process.exit(2);
  }
  writeFileSync(output, await minifyModule(readFileSync(input, 'utf8')));
}
