// Go's fmt as text/template and Sprig use it: how values print (%v), %q
// quoting, Sprint spacing and a small printf. Only what the chart needs;
// anything else is an error that says so.

/** A template error with the position it came from. */
export class TemplateError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TemplateError';
  }
}

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A float64 as Go's %v prints it (strconv 'g' with the shortest precision):
 * 8091 -> "8091", 0.5 -> "0.5", 1000000 -> "1e+06". Helm reads numbers in
 * values files as float64, so this is what `{{ .Values.n }}` prints.
 */
export function goFloat(n) {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  // Shortest round-trip digits (JS and Go agree on them); Go switches to
  // %e when the decimal exponent is below -4 or at least 6.
  const [mant, e] = n.toExponential().split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 6) {
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mant}e${exp < 0 ? '-' : '+'}${digits}`;
  }
  return String(n);
}

/** A value as Go's %v prints it inside a template (maps as map[k:v] with sorted keys). */
export function goFormat(v) {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isMap(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goFormat(v[k])}`).join(' ')}]`;
  }
  throw new TemplateError(`cannot print a value of type ${typeof v}`);
}

/** Sprig's strval: strings as they are, everything else through %v. */
export const strval = (v) => (typeof v === 'string' ? v : goFormat(v));

/** Go's %q (strconv.Quote) for a string. */
export function goQuote(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** fmt.Sprint: operands side by side, with a space between two operands when neither is a string. */
export function goSprint(args) {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += goFormat(a);
  });
  return out;
}

/** fmt.Sprintf with the verbs %s %d %v %q %t %% (flags and widths are not supported). */
export function goSprintf(format, args) {
  if (typeof format !== 'string') throw new TemplateError('printf: the format must be a string');
  let out = '';
  let next = 0;
  for (let i = 0; i < format.length; i++) {
    const ch = format[i];
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const verb = format[++i];
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (!'sdvqt'.includes(verb)) {
      throw new TemplateError(`printf: verb %${verb} is not supported by render.mjs (supported: %s %d %v %q %t %%)`);
    }
    if (next >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const a = args[next++];
    out += formatVerb(verb, a);
  }
  if (next < args.length) {
    out += `%!(EXTRA ${args.slice(next).map((a) => `${goType(a)}=${goFormat(a)}`).join(', ')})`;
  }
  return out;
}

function goType(v) {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v === null || v === undefined) return '<nil>';
  return 'map[string]interface {}';
}

function formatVerb(verb, a) {
  if (a === null || a === undefined) return verb === 'v' ? '<nil>' : `%!${verb}(<nil>)`;
  switch (verb) {
    case 'v':
      return goFormat(a);
    case 's':
      return typeof a === 'string' || typeof a === 'object' ? goFormat(a) : `%!s(${goType(a)}=${goFormat(a)})`;
    case 'q':
      return typeof a === 'string' ? goQuote(a) : `%!q(${goType(a)}=${goFormat(a)})`;
    case 'd':
      return typeof a === 'number' && Number.isInteger(a) ? String(a) : `%!d(${goType(a)}=${goFormat(a)})`;
    case 't':
      return typeof a === 'boolean' ? String(a) : `%!t(${goType(a)}=${goFormat(a)})`;
    default:
      throw new TemplateError(`printf: verb %${verb} is not supported`);
  }
}
