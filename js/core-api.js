
// Appended to the core module's wasm-bindgen glue by scripts/build-pkg.sh: the API as
// the loader sees it, one function per name, each carried to the module's one export
// for the API, `call(name, a, b, c)` (see src/web/entry.rs). Never awaited (a Proxy
// answers `then` too).
export const api = new Proxy({}, { get: (_, name) => (a, b, c) => call(name, a, b, c) });
