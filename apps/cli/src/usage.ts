/** A command-line mistake: printed as one line with a pointer to `--help`, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Nothing to talk to (no service, no key, no Redis): printed as it is, exit status 2. */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}

/** The command ran and failed (a refused prompt, a failed job, an unknown id): exit status 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
