// The template functions render.mjs provides: Go text/template built-ins and
// the Sprig/Helm functions the chart uses, with their Go semantics (Sprig's
// `empty` for `default`, %q for `quote`, sigs.k8s.io/yaml-like output for
// `toYaml`). Everything else is rejected by name when the chart is parsed.
import { stringify } from 'yaml';
import { TemplateError, goFormat, goQuote, goSprint, goSprintf, strval } from './gofmt.mjs';
import { truthy } from './exec.mjs';

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Sprig's empty: nil, false, 0, "", and empty lists or maps. */
export const empty = (v) => !truthy(v);

function need(name, args, min, max = min) {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new TemplateError(`wrong number of args for ${name}: want ${want} got ${args.length}`);
  }
}

/** Wraps a function so errors carry the template position. */
const at = (fn) => (args, ctx) => {
  try {
    return fn(args, ctx);
  } catch (err) {
    if (err instanceof TemplateError && !/^\S+:\d+: /.test(err.message)) throw new TemplateError(`${ctx.where}: ${err.message}`);
    throw err;
  }
};

/** Go template comparison: basic values of the same kind only. */
function comparable(a, b, name) {
  const kind = (v) => (v === null || v === undefined ? 'nil' : typeof v);
  if (typeof a === 'object' && a !== null) throw new TemplateError(`${name}: invalid type for comparison`);
  if (typeof b === 'object' && b !== null) throw new TemplateError(`${name}: invalid type for comparison`);
  if (kind(a) !== kind(b) && kind(a) !== 'nil' && kind(b) !== 'nil') {
    throw new TemplateError(`${name}: incompatible types for comparison (${goFormat(a)} and ${goFormat(b)})`);
  }
}

/** sigs.k8s.io/yaml output as Helm's toYaml gives it: sorted keys, lists not indented, no trailing newline. */
export function toYaml(v) {
  if (v === undefined) v = null;
  const text = stringify(v, { sortMapEntries: true, indentSeq: false, lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false });
  return text.replace(/\n$/, '');
}

const indentText = (n, s) => {
  const pad = ' '.repeat(n);
  return pad + s.replace(/\n/g, `\n${pad}`);
};

const numberArg = (name, v) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TemplateError(`${name}: expected an integer, got ${goFormat(v)}`);
  return v;
};

const plain = {
  // Go text/template built-ins
  eq: (args) => {
    if (args.length < 2) throw new TemplateError('missing argument for comparison');
    const [a, ...rest] = args;
    return rest.some((b) => {
      comparable(a, b, 'eq');
      return (a ?? null) === (b ?? null);
    });
  },
  ne: (args) => {
    need('ne', args, 2);
    comparable(args[0], args[1], 'ne');
    return (args[0] ?? null) !== (args[1] ?? null);
  },
  lt: (args) => (need('lt', args, 2), comparable(args[0], args[1], 'lt'), args[0] < args[1]),
  le: (args) => (need('le', args, 2), comparable(args[0], args[1], 'le'), args[0] <= args[1]),
  gt: (args) => (need('gt', args, 2), comparable(args[0], args[1], 'gt'), args[0] > args[1]),
  ge: (args) => (need('ge', args, 2), comparable(args[0], args[1], 'ge'), args[0] >= args[1]),
  not: (args) => (need('not', args, 1), !truthy(args[0])),
  len: (args) => {
    need('len', args, 1);
    const v = args[0];
    if (typeof v === 'string' || Array.isArray(v)) return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw new TemplateError(`len of ${goFormat(v)}`);
  },
  index: (args) => {
    if (args.length < 1) throw new TemplateError('wrong number of args for index: want at least 1 got 0');
    let cur = args[0];
    for (const k of args.slice(1)) {
      if (cur === null || cur === undefined) throw new TemplateError('index of untyped nil');
      if (Array.isArray(cur)) {
        const i = numberArg('index', k);
        if (i < 0 || i >= cur.length) throw new TemplateError(`index out of range: ${i}`);
        cur = cur[i];
      } else if (isMap(cur)) {
        cur = Object.prototype.hasOwnProperty.call(cur, k) ? cur[k] : undefined;
      } else {
        throw new TemplateError(`can't index item of type ${typeof cur}`);
      }
    }
    return cur;
  },
  print: (args) => goSprint(args),
  printf: (args) => {
    if (args.length < 1) throw new TemplateError('wrong number of args for printf: want at least 1 got 0');
    return goSprintf(args[0], args.slice(1));
  },

  // Sprig: defaults and types
  default: (args) => {
    need('default', args, 1, 2);
    return args.length < 2 || empty(args[1]) ? args[0] : args[1];
  },
  empty: (args) => (need('empty', args, 1), empty(args[0])),
  toString: (args) => (need('toString', args, 1), strval(args[0])),
  list: (args) => [...args],
  dict: (args) => {
    if (args.length % 2 !== 0) throw new TemplateError('dict needs an even number of arguments (key value ...)');
    const d = {};
    for (let i = 0; i < args.length; i += 2) d[strval(args[i])] = args[i + 1];
    return d;
  },
  hasKey: (args) => {
    need('hasKey', args, 2);
    if (!isMap(args[0])) throw new TemplateError('hasKey: the first argument must be a map');
    return Object.prototype.hasOwnProperty.call(args[0], args[1]);
  },

  // Sprig: strings
  quote: (args) => args.filter((a) => a !== null && a !== undefined).map((a) => goQuote(strval(a))).join(' '),
  squote: (args) => args.filter((a) => a !== null && a !== undefined).map((a) => `'${strval(a)}'`).join(' '),
  trim: (args) => (need('trim', args, 1), strval(args[0]).trim()),
  trimSuffix: (args) => {
    need('trimSuffix', args, 2);
    const [suffix, s] = args.map(strval);
    return suffix && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
  },
  trimPrefix: (args) => {
    need('trimPrefix', args, 2);
    const [prefix, s] = args.map(strval);
    return prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s;
  },
  trunc: (args) => {
    need('trunc', args, 2);
    const n = numberArg('trunc', args[0]);
    const s = strval(args[1]);
    if (n < 0) return s.length + n > 0 ? s.slice(s.length + n) : s;
    return s.length > n ? s.slice(0, n) : s;
  },
  lower: (args) => (need('lower', args, 1), strval(args[0]).toLowerCase()),
  upper: (args) => (need('upper', args, 1), strval(args[0]).toUpperCase()),
  replace: (args) => (need('replace', args, 3), strval(args[2]).split(strval(args[0])).join(strval(args[1]))),
  contains: (args) => (need('contains', args, 2), strval(args[1]).includes(strval(args[0]))),
  hasPrefix: (args) => (need('hasPrefix', args, 2), strval(args[1]).startsWith(strval(args[0]))),
  hasSuffix: (args) => (need('hasSuffix', args, 2), strval(args[1]).endsWith(strval(args[0]))),
  join: (args) => {
    need('join', args, 2);
    const v = args[1];
    const items = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
    return items.filter((x) => x !== null && x !== undefined).map(strval).join(strval(args[0]));
  },
  indent: (args) => (need('indent', args, 2), indentText(numberArg('indent', args[0]), strval(args[1]))),
  nindent: (args) => (need('nindent', args, 2), '\n' + indentText(numberArg('nindent', args[0]), strval(args[1]))),
  b64enc: (args) => (need('b64enc', args, 1), Buffer.from(strval(args[0]), 'utf8').toString('base64')),

  // Helm
  toYaml: (args) => (need('toYaml', args, 1), toYaml(args[0])),
  toJson: (args) => (need('toJson', args, 1), JSON.stringify(args[0] ?? null)),
  required: (args) => {
    need('required', args, 2);
    const [msg, v] = args;
    if (v === null || v === undefined || v === '') throw new TemplateError(`execution error: ${strval(msg)}`);
    return v;
  },
  fail: (args) => {
    need('fail', args, 1);
    throw new TemplateError(`execution error: ${strval(args[0])}`);
  },
  include: (args, ctx) => {
    need('include', args, 2);
    if (typeof args[0] !== 'string') throw new TemplateError('include: the template name must be a string');
    return ctx.runner.renderDefine(args[0], args[1], ctx.where);
  },
};

/** and/or get thunks: Go evaluates their arguments only as far as needed and returns the deciding value. */
const lazyFns = {
  and: (thunks) => {
    if (thunks.length < 1) throw new TemplateError('wrong number of args for and: want at least 1 got 0');
    let v;
    for (const t of thunks) {
      v = t();
      if (!truthy(v)) return v;
    }
    return v;
  },
  or: (thunks) => {
    if (thunks.length < 1) throw new TemplateError('wrong number of args for or: want at least 1 got 0');
    let v;
    for (const t of thunks) {
      v = t();
      if (truthy(v)) return v;
    }
    return v;
  },
};

/** Functions by name, and the names that take thunks. */
export function templateFunctions() {
  const functions = new Map();
  for (const [name, fn] of Object.entries({ ...plain, ...lazyFns })) functions.set(name, at(fn));
  return { functions, lazy: new Set(Object.keys(lazyFns)) };
}
