/**
 * Something outside the configuration stops the start (a data directory that cannot be written,
 * another process holding it, a database that is not ours): printed as one line before the
 * process exits, like a configuration error.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
