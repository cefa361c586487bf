/**
 * Errors of pull mode, shared by both roles. A server refusal travels as the
 * error text of DIAL_RSP, ending in " [CODE]" so that the agent (and a user
 * reading it) can tell the cases apart without parsing prose:
 *
 *     pull target "norm" is not allowed for this agent [ERR_PULL_NOT_ALLOWED]
 */

/** Stable codes of pull failures; the same code on both sides of the tunnel. */
export type PullErrorCode =
  /** The target name is not on the caller's allow-list (or does not exist: the agent cannot tell). */
  | 'ERR_PULL_NOT_ALLOWED'
  /** The name is allowed but the server has no address for it (e.g. `kubernetes` outside a pod). */
  | 'ERR_PULL_NOT_CONFIGURED'
  /** The dial address is not NAME or NAME:PORT. */
  | 'ERR_PULL_BAD_ADDRESS'
  /** The agent has as many pull connections open as the server allows. */
  | 'ERR_PULL_TOO_MANY'
  /** The server could not connect to the target. */
  | 'ERR_PULL_DIAL'
  /** The server's connection to the target timed out. */
  | 'ERR_PULL_DIAL_TIMEOUT'
  /** The server is shutting down. */
  | 'ERR_PULL_SHUTTING_DOWN'
  /** Agent side: no connected server offers pull mode. */
  | 'ERR_PULL_UNAVAILABLE'
  /** The server refused the pull stream itself (authentication). */
  | 'ERR_PULL_REFUSED'
  /** Agent side: the caller gave up (signal or timeout of the dial). */
  | 'ERR_PULL_CANCELLED'
  /** The peer broke the protocol, or the stream failed during the dial. */
  | 'ERR_PULL_STREAM';

const CODES: ReadonlySet<string> = new Set<PullErrorCode>([
  'ERR_PULL_NOT_ALLOWED',
  'ERR_PULL_NOT_CONFIGURED',
  'ERR_PULL_BAD_ADDRESS',
  'ERR_PULL_TOO_MANY',
  'ERR_PULL_DIAL',
  'ERR_PULL_DIAL_TIMEOUT',
  'ERR_PULL_SHUTTING_DOWN',
  'ERR_PULL_UNAVAILABLE',
  'ERR_PULL_REFUSED',
  'ERR_PULL_CANCELLED',
  'ERR_PULL_STREAM',
]);

/** A pull connection could not be made. `target` is the name asked for ('' when unreadable). */
export class PullError extends Error {
  readonly code: PullErrorCode;
  readonly target: string;
  constructor(code: PullErrorCode, target: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PullError';
    this.code = code;
    this.target = target;
  }
}

/** The DIAL_RSP error text of a refusal: the message and its code. */
export function pullErrorText(code: PullErrorCode, message: string): string {
  return `${message} [${code}]`;
}

/** Splits a DIAL_RSP error text into its code and message; code undefined when it carries none. */
export function parsePullErrorText(text: string): { code: PullErrorCode | undefined; message: string } {
  const m = / \[(ERR_PULL_[A-Z_]+)\]$/.exec(text);
  if (m && CODES.has(m[1]!)) return { code: m[1] as PullErrorCode, message: text.slice(0, m.index) };
  return { code: undefined, message: text };
}
