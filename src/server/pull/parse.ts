/**
 * Reading pull mode's flag values: `NAME=HOST:PORT` targets,
 * `IDENTITY=NAME[,NAME...]` allow rules, and the built-in `kubernetes`
 * target from the pod environment. Every error says what is expected.
 */
import net from 'node:net';
import { targetNameProblem } from '../../transport/pull-service.js';
import type { PullAllowRule, PullTarget } from './config.js';
import { ANY_AGENT, KUBERNETES_TARGET } from './defaults.js';

/** A pull flag value that cannot be used; the message names the value and what is expected. */
export class PullConfigError extends Error {
  readonly code = 'ERR_PULL_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'PullConfigError';
  }
}

/** Reads `NAME=HOST:PORT` (HOST a name, an IPv4 address or a bracketed IPv6 address). */
export function parsePullTarget(text: string): PullTarget {
  const eq = text.indexOf('=');
  if (eq < 0) throw new PullConfigError(`"${text}" is not NAME=HOST:PORT`);
  const name = text.slice(0, eq);
  const why = targetNameProblem(name);
  if (why) throw new PullConfigError(`"${text}": target name "${name}" is not usable: ${why}`);
  const hp = parseHostPort(text.slice(eq + 1));
  if (typeof hp === 'string') throw new PullConfigError(`"${text}": ${hp}`);
  return { name, ...hp };
}

/** Reads `IDENTITY=NAME[,NAME...]`; IDENTITY `*` means any authenticated agent; an empty list allows nothing. */
export function parsePullAllow(text: string): PullAllowRule {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new PullConfigError(`"${text}" is not IDENTITY=NAME[,NAME...] (IDENTITY an agent id, a cluster name or ${ANY_AGENT})`);
  const identity = text.slice(0, eq).trim();
  if (identity === '') throw new PullConfigError(`"${text}": the identity is empty`);
  const targets: string[] = [];
  for (const raw of text.slice(eq + 1).split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const why = targetNameProblem(name);
    if (why) throw new PullConfigError(`"${text}": target name "${name}" is not usable: ${why}`);
    if (!targets.includes(name)) targets.push(name);
  }
  return { identity, targets };
}

/**
 * The meta cluster's kube-apiserver as the built-in target `kubernetes`,
 * when running in a pod (KUBERNETES_SERVICE_HOST and _PORT set); else undefined.
 */
export function inClusterApiserver(env: NodeJS.ProcessEnv): PullTarget | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = Number(env['KUBERNETES_SERVICE_PORT']);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { name: KUBERNETES_TARGET, host, port };
}

/**
 * The targets to serve: those given, refusing a name given twice, plus the
 * in-cluster apiserver as `kubernetes` unless a target of that name was given.
 */
export function resolvePullTargets(given: readonly PullTarget[], env: NodeJS.ProcessEnv): PullTarget[] {
  const out: PullTarget[] = [];
  for (const t of given) {
    if (out.some((o) => o.name === t.name)) throw new PullConfigError(`target "${t.name}" is given more than once`);
    out.push(t);
  }
  const builtIn = inClusterApiserver(env);
  if (builtIn && !out.some((o) => o.name === KUBERNETES_TARGET)) out.push(builtIn);
  return out;
}

/** HOST:PORT or the reason it is not. */
export function parseHostPort(text: string): { host: string; port: number } | string {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return `"${text}" is not HOST:PORT ([IPv6]:PORT for IPv6)`;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (net.isIPv6(host) === false) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0 || text.indexOf(':') !== colon) return `"${text}" is not HOST:PORT (write IPv6 addresses as [ADDR]:PORT)`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `port "${portText}" is not in 1-65535`;
  if (host === '' || /[\s/]/.test(host)) return `host "${host}" is not a host name or address`;
  return { host, port };
}
