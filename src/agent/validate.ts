/**
 * Checks an AgentConfig before anything starts, with messages that name the
 * option (by its flag) and say what is allowed.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseIdentifiers } from '../protocol/index.js';
import type { AgentConfig } from './config.js';
import { AgentConfigError } from './errors.js';
import { parseServerTargets, type ServerTarget } from './server-target.js';

/** What validation found out: the parsed server addresses. */
export interface ValidatedAgentConfig {
  targets: ServerTarget[];
}

/** Throws AgentConfigError with a clear message for the first problem found. */
export function validateAgentConfig(c: AgentConfig): ValidatedAgentConfig {
  checkIdentifiers(c.agentIdentifiers);
  checkPort('--proxy-server-port', c.proxyServerPort, false, false);
  let targets: ServerTarget[];
  try {
    targets = parseServerTargets(c.proxyServerHost, c.proxyServerPort);
  } catch (e) {
    throw new AgentConfigError((e as Error).message);
  }
  checkPort('--health-server-port', c.healthServerPort, true, c.allowEphemeralPorts === true);
  checkPort('--admin-server-port', c.adminServerPort, true, c.allowEphemeralPorts === true);
  checkTls(c);
  if (c.serviceAccountTokenPath) readable('--service-account-token-path', c.serviceAccountTokenPath);

  positive('--sync-interval', c.syncIntervalMs);
  positive('--sync-interval-cap', c.syncIntervalCapMs);
  positive('--probe-interval', c.probeIntervalMs);
  positive('--keepalive-time', c.keepaliveTimeMs);
  positive('the endpoint dial timeout (dialTimeoutMs)', c.dialTimeoutMs);
  if (c.syncIntervalMs > c.syncIntervalCapMs) {
    throw new AgentConfigError(
      `--sync-interval (${c.syncIntervalMs} ms) must not be greater than --sync-interval-cap (${c.syncIntervalCapMs} ms)`,
    );
  }
  if (!Number.isInteger(c.xfrChannelSize) || c.xfrChannelSize < 1) {
    throw new AgentConfigError(`--xfr-channel-size must be a whole number of at least 1, got ${c.xfrChannelSize}`);
  }
  for (const p of c.alpnProto) {
    if (p === '' || Buffer.byteLength(p) > 255) throw new AgentConfigError(`--alpn-proto value "${p}" must be 1-255 bytes`);
  }
  return { targets };
}

function checkIdentifiers(text: string): void {
  let ids;
  try {
    ids = parseIdentifiers(text, true);
  } catch (e) {
    throw new AgentConfigError(`invalid --agent-identifiers "${text}": ${(e as Error).message}`);
  }
  const bad = (key: string, v: string, want: string): never => {
    throw new AgentConfigError(`invalid --agent-identifiers: ${key}="${v}" is not ${want}`);
  };
  for (const v of ids.ipv4) if (!net.isIPv4(v)) bad('ipv4', v, 'an IPv4 address');
  for (const v of ids.ipv6) if (!net.isIPv6(v)) bad('ipv6', v, 'an IPv6 address');
  for (const v of ids.host) if (v === '') bad('host', v, 'a host name');
  for (const v of ids.cidr) if (!isCidr(v)) bad('cidr', v, 'a CIDR such as 10.0.0.0/8');
}

function isCidr(v: string): boolean {
  const slash = v.indexOf('/');
  if (slash < 0) return false;
  const ip = v.slice(0, slash);
  const bits = v.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return false;
  const family = net.isIP(ip);
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
}

function checkPort(flag: string, port: number, mayDisable: boolean, mayBeZero: boolean): void {
  if (!Number.isInteger(port)) throw new AgentConfigError(`${flag} must be a whole number, got ${port}`);
  if (mayDisable && port === -1) return;
  if (port === 0 && mayBeZero) return;
  if (port < 1 || port > 65535) {
    const also = [mayDisable ? '-1 to disable' : '', mayBeZero ? '0 for an ephemeral port' : ''].filter(Boolean).join(', ');
    throw new AgentConfigError(`${flag} must be in 1-65535${also ? ` (or ${also})` : ''}, got ${port}`);
  }
}

function checkTls(c: AgentConfig): void {
  if (c.agentCert && !c.agentKey) throw new AgentConfigError('--agent-cert is set but --agent-key is not: give both or neither');
  if (c.agentKey && !c.agentCert) throw new AgentConfigError('--agent-key is set but --agent-cert is not: give both or neither');
  const ca = c.caCert ? readable('--ca-cert', c.caCert) : undefined;
  const cert = c.agentCert ? readable('--agent-cert', c.agentCert) : undefined;
  const key = c.agentKey ? readable('--agent-key', c.agentKey) : undefined;
  if (ca) {
    const why = pemBundleProblem(ca.toString('utf8'));
    if (why) throw new AgentConfigError(`--ca-cert ${c.caCert} is not a PEM certificate bundle: ${why}`);
  }
  if (cert && key) {
    try {
      tls.createSecureContext({ cert, key });
    } catch (e) {
      throw new AgentConfigError(
        `--agent-cert ${c.agentCert} and --agent-key ${c.agentKey} are not a matching PEM certificate and key: ${(e as Error).message}`,
      );
    }
  }
}

/** Undefined when text holds one or more parseable PEM certificates, else what is wrong. */
function pemBundleProblem(text: string): string | undefined {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) return 'no "BEGIN CERTIFICATE" block found';
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

function readable(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new AgentConfigError(`${flag} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function positive(flag: string, ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new AgentConfigError(`${flag} must be greater than 0, got ${ms} ms`);
}
