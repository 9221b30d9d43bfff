export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * What went wrong, as the user sees it: the service's problem details (RFC 9457) when it
 * answered with one, else a title and detail the CLI words itself.
 */
export class CliProblem extends Error {
  /** Seconds the service asked to wait before trying again (its `Retry-After`). */
  retryAfter?: number;

  constructor(
    readonly title: string,
    readonly detail?: string,
    readonly status?: number,
    readonly errors: FieldProblem[] = [],
  ) {
    super(detail === undefined ? title : `${title}: ${detail}`);
    this.name = 'CliProblem';
  }

  /** The lines printed for this problem. */
  describe(): string[] {
    const head = this.status === undefined ? this.title : `${this.title} (${this.status})`;
    return [
      this.detail === undefined ? head : `${head}: ${this.detail}`,
      ...this.errors
        .map((error) => `${error.field}: ${error.message}`)
        .filter((line) => !this.detail?.includes(line))
        .map((line) => `  ${line}`),
    ];
  }
}
