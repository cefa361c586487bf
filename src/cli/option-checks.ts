/** Checks shared by the server and agent options; each throws a UsageError naming the flag. */
import { statSync } from 'node:fs';
import { UsageError } from './usage-error.js';

/** A non-empty file flag must name an existing file. */
export function requireFile(flag: string, path: string): void {
  if (path === '') return;
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new UsageError(`--${flag}: file "${path}" does not exist`);
  }
  if (!isFile) throw new UsageError(`--${flag}: "${path}" is not a file`);
}

/** A certificate and its key come together. */
export function requirePair(certFlag: string, cert: string, keyFlag: string, key: string): void {
  if (cert !== '' && key === '') throw new UsageError(`--${certFlag} needs --${keyFlag}: a certificate is useless without its key`);
  if (key !== '' && cert === '') throw new UsageError(`--${keyFlag} needs --${certFlag}: a key is useless without its certificate`);
}

export interface PortRule {
  /** Lowest port (upstream servers: 1024, no reserved ports). */
  min: number;
  /** Highest port (upstream servers: 49151, no ephemeral ports). */
  max: number;
  /** Port 0 (an ephemeral port chosen at bind) is allowed: env TUNNEL_ALLOW_EPHEMERAL_PORTS=1. */
  allowZero: boolean;
}

/** Refuses a port outside the rule, saying which range is expected. */
export function checkPort(flag: string, port: number, rule: PortRule): void {
  if (port === 0 && rule.allowZero) return;
  const range = `expected ${rule.min}-${rule.max}`;
  const zeroHint = port === 0 ? ' (0, an ephemeral port, only with env TUNNEL_ALLOW_EPHEMERAL_PORTS=1)' : '';
  if (port < rule.min) {
    const why = port >= 1 && port < 1024 ? `reserved port ${port}` : `port ${port}`;
    throw new UsageError(`invalid --${flag} ${port}: please do not use ${why}; ${range}${zeroHint}`);
  }
  if (port > rule.max) {
    const why = port <= 65535 ? `ephemeral port ${port}` : `port ${port}`;
    throw new UsageError(`invalid --${flag} ${port}: please do not use ${why}; ${range}`);
  }
}

/** Refuses an int below `min`. */
export function checkAtLeast(flag: string, value: number, min: number): void {
  if (value < min) {
    throw new UsageError(`invalid value "${value}" for --${flag}: must be ${min === 1 ? 'greater than 0' : `at least ${min}`}`);
  }
}

/** Refuses a value outside a fixed set, naming the set. */
export function checkOneOf(flag: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) {
    const shown = allowed.map((a) => (a === '' ? "''" : a)).join(', ');
    throw new UsageError(`invalid value "${value}" for --${flag}: expected one of ${shown}`);
  }
}

/** Comma-separated key=value labels (upstream lease labels). */
export function checkLabels(flag: string, text: string): void {
  const bad = text.split(',').find((pair) => !/^\s*[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?\s*=\s*[-A-Za-z0-9_.]*\s*$/.test(pair));
  if (text === '' || bad !== undefined) {
    throw new UsageError(`invalid value "${text}" for --${flag}: expected comma-separated key=value labels, e.g. k8s-app=konnectivity-server`);
  }
}

/**
 * A Kubernetes label selector: comma-separated requirements such as `k=v`,
 * `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a)`. Empty selects all.
 */
export function checkLabelSelector(flag: string, text: string): void {
  if (text.trim() === '') return;
  const key = '[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?';
  const val = '[-A-Za-z0-9_.]*';
  const requirement = new RegExp(
    `^\\s*(!?${key}|${key}\\s*(=|==|!=)\\s*${val}|${key}\\s+(in|notin)\\s*\\(\\s*${val}(\\s*,\\s*${val})*\\s*\\))\\s*$`,
  );
  const parts = text.split(/,(?![^(]*\))/);
  if (parts.some((p) => !requirement.test(p))) {
    throw new UsageError(`invalid value "${text}" for --${flag}: expected a label selector, e.g. k8s-app=konnectivity-server`);
  }
}
