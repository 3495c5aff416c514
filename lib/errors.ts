/**
 * The contract's error codes (docs/api.md, "Every JSON error body"), one class for all of them so that every
 * layer can throw and the edge maps once. Messages are written for a person and never hold a secret.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  | 'authorization_required'
  | 'temporarily_unavailable'
  | 'internal_error';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  authorization_required: 409,
  temporarily_unavailable: 503,
  internal_error: 500,
};

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, for `temporarily_unavailable` (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  /** A machine-readable reason for logs and metrics (e.g. `state_expired`); never shown as a secret. */
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message: string, options: { retryAfterSeconds?: number; reason?: string } = {}) {
    super(message);
    this.name = 'BrokerError';
    this.code = code;
    this.status = STATUS[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.reason = options.reason;
  }
}

export const invalidRequest = (message: string, reason?: string) =>
  new BrokerError('invalid_request', message, reason ? { reason } : {});
export const notFound = (message: string) => new BrokerError('not_found', message);
export const conflict = (message: string, reason?: string) =>
  new BrokerError('conflict', message, reason ? { reason } : {});
export const authorizationRequired = (message: string, reason?: string) =>
  new BrokerError('authorization_required', message, reason ? { reason } : {});
export const temporarilyUnavailable = (message: string, retryAfterSeconds: number, reason?: string) =>
  new BrokerError('temporarily_unavailable', message, { retryAfterSeconds, ...(reason ? { reason } : {}) });

export const isBrokerError = (e: unknown): e is BrokerError => e instanceof BrokerError;
