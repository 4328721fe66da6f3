/**
 * Named, coded errors. Every code starts with TT_ERR_ so a log search for one
 * finds every place it can come from; messages say what to do, not just what broke.
 */
export class TTError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A PDU header that cannot be framed: the connection that sent it must be closed. */
export class FrameError extends TTError {}

/** The peer closed (or we closed) before a reply arrived. */
export class ConnectionClosedError extends TTError {
  constructor(what: string, reason: string) {
    super('TT_ERR_CONNECTION_CLOSED', `${what}: connection closed before a reply arrived (${reason})`);
  }
}

/** A request got no reply in time. */
export class RequestTimeoutError extends TTError {
  constructor(what: string, timeoutMs: number) {
    super('TT_ERR_REQUEST_TIMEOUT', `${what}: no reply within ${timeoutMs} ms`);
  }
}

/**
 * The peer answered, but flagged the reply as failed (PDU header flag, see
 * PduFlag). `reply` is the decoded body it sent anyway.
 */
export class RemoteError extends TTError {
  constructor(
    what: string,
    readonly flag: number,
    flagText: string,
    readonly reply: unknown,
  ) {
    super('TT_ERR_REMOTE', `${what}: peer replied with ${flagText}`);
  }
}

/** A link cannot take more requests right now (too many in flight, or not connected). */
export class LinkUnavailableError extends TTError {}

/** Bad configuration; the message names the key and where its value came from. */
export class ConfigError extends TTError {
  constructor(message: string) {
    super('TT_ERR_CONFIG', message);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
