#!/usr/bin/env node
/**
 * `tunnel --mode=server|agent`: parses the command line, builds the logger
 * and metrics registry, starts the role, logs one `listening` line with the
 * bound addresses, and runs the two-phase shutdown on SIGTERM/SIGINT.
 *
 * Exit codes: 0 after a clean stop (and for --help/--version), 1 when the
 * role cannot start or stop, 2 for a bad command line.
 *
 * `tunnel ca <status|stage|promote|prune>` is a one-shot command (cli/ca-run.ts):
 * 0 done, 1 failure (one line on stderr), 2 bad command line.
 */
import { hideBin } from 'yargs/helpers';
import type { AgentConfig } from './agent/config.js';
import { createProcessLogger } from './cli/log-setup.js';
import { missingNodeFlags, NODE_FLAGS } from './cli/node-flags.js';
import { parseCommandLine, type ParsedCommand } from './cli/parse.js';
import { handleAgentSignals, handleServerSignals } from './cli/signals.js';
import { guardStdio } from './cli/stdio-guard.js';
import { describeStartupError, type ListenerFlag } from './cli/startup-errors.js';
import { UsageError } from './cli/usage-error.js';
import { wireAgent, wireServer } from './main-wiring.js';
import type { Logger } from './observability/logger.js';
import { newRegistry } from './observability/metrics.js';
import type { AgentAuthenticator } from './server/auth/types.js';
import type { ServerConfig } from './server/config.js';

/** Before the logger exists (help, version, `tunnel ca`): a closed stdout or stderr just ends the process. */
function quitOnBrokenStdio(): () => void {
  const quit = (): never => process.exit(1);
  process.stdout.on('error', quit);
  process.stderr.on('error', quit);
  return () => {
    process.stdout.removeListener('error', quit);
    process.stderr.removeListener('error', quit);
  };
}

async function main(): Promise<void> {
  const unquit = quitOnBrokenStdio();
  const cmd = readCommandLine();
  if (cmd.mode === 'help' || cmd.mode === 'version') {
    process.stdout.write(`${cmd.text}\n`);
    return;
  }
  if (cmd.mode === 'ca') {
    const { runCaCommand } = await import('./cli/ca-run.js');
    const code = await runCaCommand(cmd, process.stdout, process.stderr);
    // Exit at once (the Kubernetes client may keep idle connections), once stdout is flushed.
    process.stdout.write('', () => process.exit(code));
    return;
  }

  const { logger, close } = createProcessLogger(cmd.logging, { role: cmd.mode });
  const exit = (code: number): void => {
    void close().finally(() => process.exit(code));
  };
  // A closed stdout or stderr stops the role and exits 1 (cli/stdio-guard.ts).
  let stopRole: () => Promise<void> = () => Promise.resolve();
  unquit();
  guardStdio({ streams: { stdout: process.stdout, stderr: process.stderr }, logger, stop: () => stopRole(), exit });
  process.on('unhandledRejection', (reason: unknown) => {
    logger.error('unhandled promise rejection', { error: errorText(reason) });
  });
  let crashed = false;
  process.on('uncaughtException', (err: Error) => {
    // Once: an exception thrown again while exiting must not log (and maybe throw) in a loop.
    if (crashed) return;
    crashed = true;
    logger.error('uncaught exception', { error: errorText(err) });
    exit(1);
  });
  // Node prints process warnings as plain text on stderr, which breaks the one
  // JSON object per line log (grpc-js alone triggers DEP0123 when a server is
  // given by IP address): they go through the logger instead, deprecations
  // of our dependencies at debug level.
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    const fields = { name: w.name, code: w.code, warning: w.message };
    if (w.name === 'DeprecationWarning') logger.debug('Node.js warning', fields);
    else logger.warn('Node.js warning', fields);
  });
  const missing = missingNodeFlags(process.execArgv, process.env['NODE_OPTIONS']);
  if (missing.length > 0) {
    logger.info('running without the Node flags the image sets; expect more memory per idle tunnel and slower bulk transfers', {
      missing: missing.join(' '),
      fix: `start it as: node ${NODE_FLAGS.join(' ')} ${process.argv[1] ?? 'dist/src/main.js'} ... (Node does not take --initial-old-space-size from NODE_OPTIONS)`,
    });
  }
  for (const w of cmd.warnings) logger.warn(w);
  for (const n of cmd.notices) logger.info(n);

  const stop = cmd.mode === 'server' ? await runServer(cmd.config, logger, exit) : await runAgent(cmd.config, logger, exit);
  if (stop) stopRole = stop;
}

/** The parsed command line; a usage error ends the process with exit code 2 and one line on stderr. */
function readCommandLine(): ParsedCommand {
  try {
    return parseCommandLine(hideBin(process.argv), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tunnel: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    throw err;
  }
}

/** Starts the server; resolves with how to stop it (undefined when it could not start). */
async function runServer(config: ServerConfig, logger: Logger, exit: (code: number) => void): Promise<(() => Promise<void>) | undefined> {
  const { TunnelServer } = await import('./server/index.js');
  let addresses;
  let server;
  let wiring;
  try {
    const registry = newRegistry();
    // --cert-source=csr (signer, own certificate, bootstrap tokens) and --hook-*: main-wiring.ts.
    wiring = await wireServer(config, { logger, registry });
    const authenticator =
      wiring.deps.authenticator ?? (config.agentNamespace !== '' ? await tokenAuthenticator(config, logger) : undefined);
    // Leases (--enable-lease-controller) bring the Kubernetes client: loaded only then.
    const ha = config.enableLeaseController
      ? (await import('./server/ha/from-config.js')).serverHAFromConfig(config, { logger, registry })
      : undefined;
    server = new TunnelServer(config, { logger, registry, ...wiring.deps, ...(authenticator ? { authenticator } : {}), ...(ha ? { ha } : {}) });
    addresses = await server.start();
  } catch (err) {
    await wiring?.stop();
    logger.error(describeStartupError(err, serverListeners(config)), { code: errorCode(err) });
    exit(1);
    return undefined;
  }
  // Handlers first: whoever reads `listening` may signal at once.
  const started = server;
  const extras = wiring;
  const shutdown = (): Promise<void> => started.shutdown({ graceful: true }).finally(() => extras.stop());
  handleServerSignals({ source: process, logger, exit, shutdown });
  logger.info('listening', { ...addresses });
  return shutdown;
}

/**
 * Upstream's token authentication of agents (--agent-namespace,
 * --agent-service-account, --authentication-audience): a TokenReview per
 * token through --kubeconfig or the in-cluster configuration. Loaded only
 * when asked for.
 */
async function tokenAuthenticator(config: ServerConfig, logger: Logger): Promise<AgentAuthenticator> {
  const [{ loadKubeConfig, createTokenReviewer }, { createTokenAuthenticator }] = await Promise.all([
    import('./kube/index.js'),
    import('./server/auth/token-authenticator.js'),
  ]);
  const kc = loadKubeConfig({ kubeconfigPath: config.kubeconfig });
  logger.info('agents authenticate with ServiceAccount tokens', {
    namespace: config.agentNamespace,
    serviceAccount: config.agentServiceAccount,
    audience: config.authenticationAudience,
  });
  return createTokenAuthenticator({
    namespace: config.agentNamespace,
    serviceAccount: config.agentServiceAccount,
    audience: config.authenticationAudience,
    reviewer: createTokenReviewer(kc),
    logger,
  });
}

/** Starts the agent; resolves with how to stop it (undefined when it could not start). */
async function runAgent(config: AgentConfig, logger: Logger, exit: (code: number) => void): Promise<(() => Promise<void>) | undefined> {
  const { TunnelAgent } = await import('./agent/index.js');
  const registry = newRegistry();
  let addresses;
  let agent: InstanceType<typeof TunnelAgent> | undefined;
  let wiring;
  // A post-start hook that fails under --hook-failure-policy=fail stops the agent.
  const fatal = (err: unknown): void => {
    logger.error(errorText(err), { code: errorCode(err) });
    void (agent?.stop() ?? Promise.resolve()).finally(() => exit(1));
  };
  try {
    // --cert-source=csr (bootstrap token, then the issued certificate) and --hook-*: main-wiring.ts.
    wiring = await wireAgent(config, { logger, registry, fatal });
    agent = new TunnelAgent(config, { logger, registry, ...wiring.deps });
    addresses = await agent.start();
  } catch (err) {
    await wiring?.stop();
    logger.error(describeStartupError(err, agentListeners(config)), { code: errorCode(err) });
    exit(1);
    return undefined;
  }
  const running = agent;
  const extras = wiring;
  const stop = (): Promise<void> => running.stop().finally(() => extras.stop());
  handleAgentSignals({ source: process, logger, exit, drain: () => running.drain(), stop });
  logger.info('listening', { ...addresses });
  return stop;
}

function serverListeners(c: ServerConfig): ListenerFlag[] {
  return [
    { flag: 'uds-name', path: c.udsName },
    { flag: 'server-port', port: c.serverPort, mentions: 'frontend', tlsFlags: ['server-cert', 'server-key', 'server-ca-cert'] },
    { flag: 'agent-port', port: c.agentPort, mentions: 'agent port', tlsFlags: ['cluster-cert', 'cluster-key', 'cluster-ca-cert'] },
    { flag: 'health-port', port: c.healthPort },
    { flag: 'admin-port', port: c.adminPort },
  ];
}

function agentListeners(c: AgentConfig): ListenerFlag[] {
  return [
    { flag: 'health-server-port', port: c.healthServerPort },
    { flag: 'admin-server-port', port: c.adminServerPort },
    { flag: 'agent-cert', tlsFlags: ['ca-cert', 'agent-cert', 'agent-key'] },
  ];
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

main().catch((err: unknown) => {
  process.stderr.write(`tunnel: ${errorText(err)}\n`);
  process.exit(1);
});
