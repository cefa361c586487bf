/** The one error type of the command line: a bad invocation, exit code 2. */

/** A flag, value or combination the CLI refuses. The message names the flag and what is expected. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE' as const;
  /** Process exit code for usage errors (as Go's flag package and cobra). */
  readonly exitCode = 2 as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
