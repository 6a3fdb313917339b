// Server-side rendering: the package imports in Node, and every API function can be
// called there (during a server render) without a throw, touching no browser API.
// Runs in plain Node, no browser.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { PKG_DIR } from './harness.mjs';

// Browser globals the loader must not read in Node (window and document only get a
// `typeof` check). Each read is recorded.
const TRAPPED = ['localStorage', 'sessionStorage', 'navigator', 'location', 'history', 'fetch', 'addEventListener'];

describe('server-side rendering', () => {
  it('imports the package in Node and calls every API function without a throw or a browser API', async () => {
    const touched = [];
    const saved = {};
    for (const name of TRAPPED) {
      saved[name] = Object.getOwnPropertyDescriptor(globalThis, name);
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() { touched.push(name); return saved[name]?.get ? saved[name].get.call(globalThis) : saved[name]?.value; },
      });
    }
    try {
      const segflow = await import(pathToFileURL(join(PKG_DIR, 'segflow.js')).href);
      // Every function the types declare exists, and nothing else is exported.
      const declared = [...readFileSync(join(PKG_DIR, 'segflow.d.ts'), 'utf8').matchAll(/^export function (\w+)/gm)].map((m) => m[1]);
      const names = [...new Set(declared)].sort();
      assert.deepEqual(Object.keys(segflow).filter((k) => k !== 'default').sort(), names);
      assert.ok(names.length >= 20, `${names.length} functions`);
      const args = {
        init: [{ writeKey: 'k', content: { version: 1, flows: [] } }],
        identify: ['u', { plan: 'pro' }], identifyAnonymous: [{}], updateUser: [{ a: 1 }],
        group: ['g', { n: 1 }], updateGroup: [{ n: 2 }], track: ['E', { i: 1 }], page: ['Home'],
        alias: ['u2'], reset: [], setStreaming: [false], setPageTrackingDisabled: [true],
        on: ['error', () => {}], off: ['error', () => {}], flush: [], isIdentified: [], user: [],
        loadContent: [{ version: 1, flows: [] }], start: ['tour'], endAll: [], endChecklist: [],
        setCustomNavigate: [null], setBaseZIndex: [10], analyticsPlugin: [],
      };
      const results = {};
      for (const name of names) {
        assert.ok(args[name], `the SSR test knows how to call ${name}`);
        results[name] = segflow[name](...args[name]);
      }
      assert.equal(results.isIdentified, false);
      assert.equal(results.user, null);
      assert.deepEqual(await results.flush, { pending: 0 });
      assert.equal(await results.start, undefined);
      assert.equal(await results.loadContent, undefined);
      // analytics.js's plugin works in Node too (an SSR'd app may register it there).
      const ctx = { event: { type: 'track', event: 'x' } };
      assert.equal(results.analyticsPlugin.name, 'segflow');
      assert.equal(results.analyticsPlugin.track(ctx), ctx);
      await results.analyticsPlugin.load();
      assert.equal(await segflow.default(), undefined, 'load() resolves, doing nothing');
      assert.deepEqual(touched, [], 'no browser API read in Node');
    } finally {
      for (const name of TRAPPED) {
        if (saved[name]) Object.defineProperty(globalThis, name, saved[name]);
        else delete globalThis[name];
      }
    }
  });
});
