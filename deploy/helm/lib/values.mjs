// Values as Helm builds them: the chart's values.yaml, then each -f file
// merged over it (maps merge key by key, anything else replaces, null
// removes a key), then each --set / --set-string.
import { TemplateError } from './gofmt.mjs';

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Merges `over` into a copy of `base`, Helm style. */
export function mergeValues(base, over) {
  const out = isMap(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(over ?? {})) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k], v);
    else out[k] = v;
  }
  return out;
}

/** Splits on `sep` where it is not escaped with a backslash (and not inside {...} when `braces`). */
function splitUnescaped(s, sep, braces) {
  const parts = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[++i];
      continue;
    }
    if (braces && ch === '{') depth++;
    if (braces && ch === '}') depth--;
    if (ch === sep && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  parts.push(cur);
  return parts;
}

const unescape = (s) => s.replace(/\\(.)/g, '$1');

/** A --set value typed as Helm's strvals does it: true/false, null, integers; --set-string keeps strings. */
function typed(raw, asString) {
  const s = unescape(raw);
  if (asString) return s;
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null') return null;
  if (/^[-+]?(0|[1-9]\d*)$/.test(s) && Number.isSafeInteger(Number(s))) return Number(s);
  return s;
}

/**
 * Applies one --set argument (`a.b=c,d[0]=e,list={x,y}`) to `values` in place.
 * Keys are dotted paths with optional [n] indexes; `\.` and `\,` escape.
 */
export function applySet(values, arg, asString = false) {
  for (const assignment of splitUnescaped(arg, ',', true)) {
    if (assignment === '') continue;
    const eq = splitUnescaped(assignment, '=', false);
    if (eq.length < 2) throw new TemplateError(`--set ${assignment}: key has no value (expected key=value)`);
    const key = eq[0];
    const rawValue = eq.slice(1).join('=');
    const value =
      rawValue.startsWith('{') && rawValue.endsWith('}')
        ? splitUnescaped(rawValue.slice(1, -1), ',', false).filter((x) => x !== '').map((x) => typed(x, asString))
        : typed(rawValue, asString);
    setPath(values, parseKey(key), value, assignment);
  }
  return values;
}

function parseKey(key) {
  const steps = [];
  for (const part of splitUnescaped(key, '.', false)) {
    const m = /^(.*?)((\[\d+\])*)$/.exec(part);
    const name = unescape(m[1]);
    if (name === '') throw new TemplateError(`--set ${key}: empty key segment`);
    steps.push(name);
    for (const idx of m[2].match(/\d+/g) ?? []) steps.push(Number(idx));
  }
  return steps;
}

function setPath(root, steps, value, shown) {
  let cur = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const last = i === steps.length - 1;
    if (typeof step === 'number') {
      if (!Array.isArray(cur)) throw new TemplateError(`--set ${shown}: not a list at index [${step}]`);
      if (step > 65536) throw new TemplateError(`--set ${shown}: index ${step} is too large`);
      while (cur.length <= step) cur.push(null);
    }
    if (last) {
      if (value === null && !Array.isArray(cur)) delete cur[step];
      else cur[step] = value;
      return;
    }
    const wantList = typeof steps[i + 1] === 'number';
    const next = cur[step];
    if (wantList ? !Array.isArray(next) : !(next !== null && typeof next === 'object' && !Array.isArray(next))) {
      cur[step] = wantList ? [] : {};
    }
    cur = cur[step];
  }
}
