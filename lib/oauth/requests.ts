/**
 * Requests to authorization servers: the options every call takes, the URL policy each endpoint must pass,
 * and the size limit on every answer (a hostile server cannot make the broker read or store more than a
 * secret holds).
 */
import * as oauth from 'oauth4webapi';
import { endpointUrlProblem, type UrlPolicy } from '../endpoint-policy.js';
import { isLoopbackUrl } from '../shared.js';
import type { ProfileConfig } from '../profile.js';
import { OAuthFailure } from './failures.js';

export type Fetch = typeof fetch;

export interface OAuthOptions {
  /** Injected fetch (tests, local mode); defaults to the global one. */
  fetch?: Fetch;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Which endpoint URLs may be asked (lib/endpoint-policy.ts); default `cloud`, the strict one. */
  urlPolicy?: UrlPolicy;
  /** Builds the `ClientAuth` of `private_key_jwt` profiles (`lib/keys`); without it such profiles cannot authenticate. */
  clientAssertion?: (config: ProfileConfig) => oauth.ClientAuth;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The options of every request to an authorization server. The endpoint goes through the URL policy first
 * (an endpoint stored before the policy, or learned by discovery, gets no exception); only loopback
 * `http:` in local mode skips TLS. Every answer is read through `boundedFetch`, and the timeout covers
 * the body too, so an answer that never ends is cut off.
 */
export function requestOptions(url: string | undefined, options: OAuthOptions) {
  const policy = options.urlPolicy ?? 'cloud';
  if (url !== undefined) assertEndpointAllowed(url, policy, 'The endpoint');
  const insecure = url !== undefined && policy === 'local' && new URL(url).protocol === 'http:' && isLoopbackUrl(url);
  return {
    [oauth.allowInsecureRequests]: insecure,
    [oauth.customFetch]: boundedFetch(options.fetch),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  };
}

/** Refuses (as an `invalid_configuration` error: nothing is sent) an endpoint that `policy` does not accept. */
export function assertEndpointAllowed(url: string, policy: UrlPolicy, what: string): void {
  const problem = endpointUrlProblem(url, policy);
  if (problem) {
    throw new OAuthFailure('invalid_configuration', 'error', `${what} ${problem}: check the profile's URLs or issuer.`);
  }
}

/**
 * docs/api.md: a token, discovery or revocation response larger than 64 KiB is refused. That is a
 * Secrets Manager value's limit, and far more than any real answer; a hostile server could otherwise make
 * the function buffer until it runs out of memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** An answer that went over {@link MAX_RESPONSE_BYTES}; reading stopped there and the connection was dropped. */
export class ResponseTooLargeError extends Error {
  constructor() {
    super(`The authorization server's answer is larger than ${MAX_RESPONSE_BYTES / 1024} KiB.`);
    this.name = 'ResponseTooLargeError';
  }
}

/** Statuses whose responses have no body (a `Response` cannot be made with one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * A fetch whose answers are counted while they stream: a declared `Content-Length` over the limit is
 * refused before reading, and a body that goes over it errors with {@link ResponseTooLargeError} and is
 * cancelled, so nothing ever buffers more than the limit (plus one chunk).
 */
export function boundedFetch(inner: Fetch | undefined, maxBytes: number = MAX_RESPONSE_BYTES): Fetch {
  return async (input, init) => {
    const response = await (inner ?? globalThis.fetch)(input, init);
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new ResponseTooLargeError();
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
    const reader = response.body.getReader();
    let received = 0;
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        received += value.byteLength;
        if (received > maxBytes) {
          await reader.cancel().catch(() => undefined);
          controller.error(new ResponseTooLargeError());
          return;
        }
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
