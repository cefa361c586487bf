/**
 * Pull mode's flags → PullServerConfig / AgentPullConfig, with checks that
 * name the flag and the value.
 */
import type { AgentPullConfig, PullListen, PullProxyListen } from '../agent/pull/config.js';
import { defaultAgentPullConfig } from '../agent/pull/defaults.js';
import { HostPortError, parsePort, splitHostPort } from '../agent/host-port.js';
import type { PullServerConfig } from '../server/pull/config.js';
import { defaultPullServerConfig } from '../server/pull/defaults.js';
import { parsePullAllow, parsePullTarget, PullConfigError, resolvePullTargets } from '../server/pull/parse.js';
import { targetNameProblem } from '../transport/pull-service.js';
import type { FlagValues } from './flag-values.js';
import { checkAtLeast, requireFile } from './option-checks.js';
import { UsageError } from './usage-error.js';

/** The server's pull config; `env` supplies the in-cluster apiserver as `kubernetes`. */
export function serverPullFromFlags(values: FlagValues, env: NodeJS.ProcessEnv): PullServerConfig {
  const d = defaultPullServerConfig();
  const read = <T>(flag: string, text: string, parse: (t: string) => T): T => {
    try {
      return parse(text);
    } catch (e) {
      if (e instanceof PullConfigError) throw new UsageError(`invalid value for --${flag}: ${e.message}`);
      throw e;
    }
  };
  const given = (values.all('pull-target') ?? []).map((t) => read('pull-target', t, parsePullTarget));
  const targets = read('pull-target', '', () => resolvePullTargets(given, env));
  const allowTexts = values.all('pull-allow');
  const allow = allowTexts === undefined ? d.allow : allowTexts.map((t) => read('pull-allow', t, parsePullAllow));
  const max = values.int('pull-max-connections-per-agent') ?? d.maxConnectionsPerAgent;
  checkAtLeast('pull-max-connections-per-agent', max, 1);
  const dialTimeoutMs = values.duration('pull-dial-timeout') ?? d.dialTimeoutMs;
  if (dialTimeoutMs <= 0) throw new UsageError('invalid value for --pull-dial-timeout: must be greater than 0');
  return { targets, allow, maxConnectionsPerAgent: max, dialTimeoutMs };
}

/** The agent's pull config; `eph` allows port 0 (TUNNEL_ALLOW_EPHEMERAL_PORTS=1). */
export function agentPullFromFlags(values: FlagValues, eph: boolean): AgentPullConfig {
  const d = defaultAgentPullConfig();
  const listen: PullListen[] = (values.all('pull-listen') ?? []).map((t) => parseListen(t, eph));
  const seen = new Map<string, string>();
  for (const l of listen) {
    const where = `${l.host}:${l.port}`;
    if ([...seen.values()].includes(l.name)) throw new UsageError(`invalid value for --pull-listen: target "${l.name}" is forwarded twice`);
    if (l.port !== 0 && seen.has(where)) throw new UsageError(`invalid value for --pull-listen: ${where || 'the address'} is used twice`);
    seen.set(where, l.name);
  }
  const proxyText = values.string('pull-proxy');
  const proxy = proxyText ? listenAddress('pull-proxy', proxyText, eph) : undefined;
  if (proxy && proxy.port !== 0 && seen.has(`${proxy.host}:${proxy.port}`)) {
    throw new UsageError(`invalid value "${proxyText}" for --pull-proxy: the address is also a --pull-listen address`);
  }
  const kube = {
    target: values.string('pull-kube-target') ?? d.kube.target,
    caCert: values.string('pull-kube-ca-cert') ?? d.kube.caCert,
    tokenPath: values.string('pull-kube-token-path') ?? d.kube.tokenPath,
    tlsServerName: values.string('pull-kube-tls-server-name') ?? d.kube.tlsServerName,
  };
  const why = targetNameProblem(kube.target);
  if (why) throw new UsageError(`invalid value "${kube.target}" for --pull-kube-target: ${why}`);
  requireFile('pull-kube-ca-cert', kube.caCert);
  requireFile('pull-kube-token-path', kube.tokenPath);
  return { listen, ...(proxy ? { proxy } : {}), kube };
}

/** NAME=ADDR:PORT. */
function parseListen(text: string, eph: boolean): PullListen {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(`invalid value "${text}" for --pull-listen: expected NAME=ADDR:PORT, e.g. kubernetes=0.0.0.0:6443`);
  const name = text.slice(0, eq);
  const why = targetNameProblem(name);
  if (why) throw new UsageError(`invalid value "${text}" for --pull-listen: target name "${name}" is not usable: ${why}`);
  return { name, ...listenAddress('pull-listen', text.slice(eq + 1), eph, text) };
}

/** ADDR:PORT with ADDR a host, an IP, [IPv6] or empty (every interface). */
function listenAddress(flag: string, text: string, eph: boolean, whole = text): PullProxyListen {
  let host: string;
  let port: number;
  try {
    const hp = splitHostPort(text);
    host = hp.host;
    port = parsePort(hp.port);
  } catch (e) {
    const why = e instanceof HostPortError ? e.message : String(e);
    throw new UsageError(`invalid value "${whole}" for --${flag}: expected ADDR:PORT (${why})`);
  }
  if (port === 0 && !eph) {
    throw new UsageError(`invalid value "${whole}" for --${flag}: port 0 (an ephemeral port) only with env TUNNEL_ALLOW_EPHEMERAL_PORTS=1`);
  }
  return { host, port };
}
