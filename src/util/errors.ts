/** An error meant for the person at the terminal: the CLI prints its message (and hint) without a stack trace. */
export class TlError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'TlError';
  }
}
