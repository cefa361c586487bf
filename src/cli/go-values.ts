/**
 * Flag values in the formats of upstream's Go flags (pflag), so manifests
 * written for the Go binaries keep working: durations (`300ms`, `1m30s`,
 * `1h`, `0`), booleans (`true`, `t`, `1`, ...), integers and comma lists.
 * Each parser throws a plain Error saying what is expected; the caller adds
 * the flag name and the value.
 */

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const DURATION_HINT = 'a Go duration such as 300ms, 1s, 1m30s or 1h (units ns, us, ms, s, m, h)';

/**
 * Parses a Go duration (time.ParseDuration) into milliseconds, possibly
 * fractional. A bare number other than 0 is refused, as Go refuses it.
 */
export function parseGoDuration(text: string): number {
  let s = text.trim();
  if (s === '') throw new Error(`empty; expected ${DURATION_HINT}`);
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (/^[0-9]*\.?[0-9]*$/.test(s) && /[0-9]/.test(s)) {
    throw new Error(`no unit; expected ${DURATION_HINT} (only 0 may go without a unit)`);
  }
  let ns = 0;
  let rest = s;
  while (rest !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/.exec(rest);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) throw new Error(`expected ${DURATION_HINT}`);
    const unit = m[3]!;
    const perUnit = NS_PER_UNIT[unit];
    if (perUnit === undefined) throw new Error(`unknown unit "${unit}"; expected ${DURATION_HINT}`);
    const value = Number(`${m[1] || '0'}.${m[2] || '0'}`);
    ns += value * perUnit;
    rest = rest.slice(m[0].length);
  }
  return (sign * ns) / 1e6;
}

/** Milliseconds as Go prints a time.Duration: `0s`, `300ms`, `10s`, `1m30s`, `1h0m0s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${abs}ms`;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = (abs % 60_000) / 1000;
  return `${sign}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

const TRUE_WORDS = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const FALSE_WORDS = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean {
  if (TRUE_WORDS.includes(text)) return true;
  if (FALSE_WORDS.includes(text)) return false;
  throw new Error('expected true or false (or 1, 0, t, f)');
}

/** A decimal integer (optionally signed). */
export function parseGoInt(text: string): number {
  const s = text.trim();
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error('expected a whole number');
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error('out of range');
  return n;
}

/** A decimal number such as 5, 0.5 or 1e3. */
export function parseGoFloat(text: string): number {
  const s = text.trim();
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) throw new Error('expected a number');
  return Number(s);
}

/**
 * A comma-separated list (pflag StringSlice): items are trimmed, empty items
 * dropped, so `--alpn-proto=` gives an empty list.
 */
export function parseGoList(text: string): string[] {
  return text
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}
