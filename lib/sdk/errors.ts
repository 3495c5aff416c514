/**
 * The broker's errors as the SDK and the CLI see them: the contract's JSON error body
 * (`{"error": "<code>", "message": "<human sentence>"}`, docs/api.md) turned into one typed error.
 */
import { parseRetryAfter } from '../shared.js';

/**
 * The contract's error codes, plus the ones the client adds itself: `network_error` (the broker could not
 * be reached; `status` 0), `invalid_response` (the broker answered something that is not the contract),
 * and, for answers that carry no contract code (API Gateway's own 403 for a missing or wrong signature,
 * for example), a code derived from the HTTP status: `unauthorized`, `forbidden`, `too_many_requests`.
 */
export type BrokerErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  | 'authorization_required'
  | 'temporarily_unavailable'
  | 'internal_error'
  | 'unauthorized'
  | 'forbidden'
  | 'too_many_requests'
  | 'network_error'
  | 'invalid_response'
  | (string & {});

/**
 * An error answer of the broker, or a failure to reach it.
 *
 * @example
 * ```ts
 * try {
 *   await client.getToken('erp');
 * } catch (error) {
 *   if (error instanceof BrokerApiError && error.code === 'authorization_required') {
 *     console.error('A person must authorize profile "erp" first: oauth-broker authorize erp --open --wait');
 *   } else if (error instanceof BrokerApiError && error.retryAfterSeconds !== undefined) {
 *     // 503 temporarily_unavailable: try again after error.retryAfterSeconds
 *   } else {
 *     throw error;
 *   }
 * }
 * ```
 */
export class BrokerApiError extends Error {
  /** The HTTP status, or 0 when the broker could not be reached. */
  readonly status: number;
  /** The contract's error code (`not_found`, `authorization_required`, …). */
  readonly code: BrokerErrorCode;
  /** Seconds to wait before trying again, from the `Retry-After` header (503 `temporarily_unavailable`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: BrokerErrorCode, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BrokerApiError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Whether `error` is a {@link BrokerApiError}. */
export const isBrokerApiError = (error: unknown): error is BrokerApiError => error instanceof BrokerApiError;

function codeForStatus(status: number): BrokerErrorCode {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 429:
      return 'too_many_requests';
    case 503:
      return 'temporarily_unavailable';
    default:
      return status >= 500 ? 'internal_error' : 'invalid_request';
  }
}

/**
 * `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). Returns whole seconds, or
 * `undefined` when the header is absent or unreadable.
 */
export { parseRetryAfter };

/** Reads an error answer (any non-2xx response) into a {@link BrokerApiError}. Consumes the body. */
export async function errorFromResponse(response: Response): Promise<BrokerApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body could not be read; the status alone must do.
  }
  let code: BrokerErrorCode | undefined;
  let message: string | undefined;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object') {
      const record = body as Record<string, unknown>;
      if (typeof record.error === 'string' && record.error) code = record.error;
      // API Gateway's own answers (missing or bad signature, throttling) say `message` or `Message`.
      if (typeof record.message === 'string' && record.message) message = record.message;
      else if (typeof record.Message === 'string' && record.Message) message = record.Message;
    }
  } catch {
    // Not JSON: not the contract's body.
  }
  const status = response.status;
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
  return new BrokerApiError(
    status,
    code ?? codeForStatus(status),
    message ?? `The broker answered HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}.`,
    retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
  );
}

/** A failure to reach the broker at all (connection refused, DNS, TLS, abort). */
export function networkError(url: URL, cause: unknown): BrokerApiError {
  const detail = describeCause(cause);
  return new BrokerApiError(0, 'network_error', `Cannot reach the broker at ${url.origin}${detail ? ` (${detail})` : ''}.`, { cause });
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  if (cause.name === 'AbortError' || cause.name === 'TimeoutError') return cause.name === 'TimeoutError' ? 'timed out' : 'aborted';
  const inner = (cause as { cause?: unknown }).cause;
  const code = inner && typeof inner === 'object' ? (inner as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  return cause.message;
}
