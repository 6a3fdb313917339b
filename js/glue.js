// Small helpers the wasm shell calls. They run as plain JS because walking a value the
// page passed in is far cheaper here than across the wasm boundary, property by property.

// Every coded Error's message begins "segflow: ", added here only, so the page can
// tell segflow's errors apart whichever layer (this glue, a module's shell or the
// core) refused the call.
const mine = new WeakSet();
const invalid = (message) => {
  const err = codedError('invalid_argument', message);
  mine.add(err); // told apart from a page error that carries the same code
  return err;
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// `path`: where `value` is, as the name given and then each key (a string) or
// index (a number) down to it, spelled out only in an error (building it for
// every value was 3% of track()'s time). `converted`: `value` is what a toJSON()
// returned, whose own toJSON is not called (as JSON.stringify does), so a toJSON
// chain cannot loop.
const spell = (path) => path.map((p, i) => (i == 0 ? p : typeof p == 'number' ? `[${p}]` : `.${p}`)).join('');

function walk(value, path, seen, depth, converted) {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw invalid(`${spell(path)} is ${value}, which JSON cannot carry`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      if (value > MAX_SAFE || value < -MAX_SAFE) throw invalid(`${spell(path)} is a BigInt beyond 2^53`);
      return value.toString();
    case 'undefined':
      return undefined;
    case 'function':
    case 'symbol':
      throw invalid(`${spell(path)} is a ${typeof value}, which cannot be sent`);
    default:
      break;
  }
  if (value === null) return 'null';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(`${spell(path)} is an invalid Date`);
    return JSON.stringify(value.toISOString());
  }
  if (seen.includes(value)) throw invalid(`${spell(path)} refers back to itself (a cycle)`);
  // `seen` holds the objects and arrays from the top down to this one.
  if (seen.length >= depth) throw invalid(`${spell(path)} is nested more than ${depth} levels deep (objects and arrays)`);
  seen.push(value);
  let out;
  // In JSON.stringify's order: a toJSON (an array's own too), then the value a
  // wrapper object (`new String('s')`, `new Number(3)`, `new Boolean(false)`) holds.
  if (!converted && typeof value.toJSON === 'function') {
    seen.pop();
    return walk(value.toJSON(), path, seen, depth, true);
  }
  if (value instanceof String || value instanceof Number || value instanceof Boolean) {
    seen.pop();
    return walk(value.valueOf(), path, seen, depth, true);
  }
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const item = walk(value[i], path, seen, depth);
      path.pop();
      out += (i ? ',' : '') + (item === undefined ? 'null' : item);
    }
    out += ']';
  } else {
    out = '{';
    let first = true;
    for (const key of Object.keys(value)) {
      path.push(key);
      const item = walk(value[key], path, seen, depth);
      path.pop();
      if (item === undefined) continue;
      out += (first ? '' : ',') + JSON.stringify(key) + ':' + item;
      first = false;
    }
    out += '}';
  }
  seen.pop();
  return out;
}

/// JSON text of a plain object given by the page (`undefined`/`null` give `{}`), or an
/// `invalid_argument` Error for values JSON cannot carry faithfully or that nest
/// objects and arrays more than `depth` deep (the object itself counts one). The
/// walk never recurses deeper than that, so deep input cannot overflow the stack.
export function objectToJson(value, name, depth) {
  if (value === undefined || value === null) return '{}';
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`${name} must be an object`);
  const path = [name];
  let out;
  try {
    out = walk(value, path, [], depth);
  } catch (e) {
    if (mine.has(e)) throw e;
    // Page code (a getter, a Proxy trap, a toJSON) threw something: the call
    // fails with a coded Error naming where, and what was thrown as its `cause`.
    let why = '';
    try { why = `: ${e instanceof Error ? e.message : String(e)}`; } catch (_) { /* unprintable */ }
    const err = invalid(`${spell(path)} threw when read${why}`);
    err.cause = e;
    throw err;
  }
  // A toJSON() may turn the object into anything, or nothing at all.
  if (out === undefined || out[0] !== '{') throw invalid(`${name} must be an object`);
  return out;
}

/// An Error whose `code` property is one of segflow's stable codes and whose message is
/// `message` after "segflow: ", with the fields
/// of the JSON object `extra` when given.
export function codedError(code, message, extra) {
  const err = new Error('segflow: ' + message);
  err.code = code;
  if (extra) Object.assign(err, JSON.parse(extra));
  return err;
}

/// `JSON.parse(text)`, or null for text that is not JSON.
export function parseJson(text) {
  try { return JSON.parse(text); } catch (_) { return null; }
}

/// `console.warn('segflow: ...')`, or with `err`, `console.error(message, err)`.
/// Never throws: a page may replace its console with one that does, and a throw
/// here would cross the module mid-call and leave its state half-changed.
export function warn(message, err) {
  try {
    if (err === undefined) console.warn(message);
    else console.error(message, err);
  } catch (_) { /* the page's console */ }
}

/// `location.href` ('' where there is none).
export function href() {
  try { return location.href; } catch (_) { return ''; }
}

/// What every generated event says of the page: `navigator.language`, then
/// `innerWidth` and `innerHeight`, one per line.
export function pageFacts() {
  return `${navigator.language || ''}\n${innerWidth | 0}\n${innerHeight | 0}`;
}
