/**
 * API Gateway proxy responses: the contract's JSON error body (docs/api.md), and the callback's HTML pages.
 * A 5xx never echoes exception text; every page escapes what it shows.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { BrokerError, invalidRequest, isBrokerError } from './errors.js';
import type { Log } from './logger.js';
import { errorFields } from './logger.js';
import { MAX_RETRY_AFTER_SECONDS } from './shared.js';

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function noContent(): APIGatewayProxyResult {
  return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
}

/** `{"error": code, "message": sentence}`; unknown errors become a generic 500 and are logged by name only. */
export function errorResponse(error: unknown, logger: Log): APIGatewayProxyResult {
  if (isBrokerError(error)) {
    // ERROR is for the broker's own faults: a 4xx is the caller's mistake, a 503 a passing condition (or an
    // issuer the admin mistyped), neither worth waking anyone for.
    if (error.status === 503) logger.warn('request failed for now', errorFields(error));
    else if (error.status >= 500) logger.error('request failed', errorFields(error));
    else logger.info('request refused', { errorCode: error.code, ...(error.reason ? { reason: error.reason } : {}) });
    const headers: Record<string, string> =
      error.retryAfterSeconds !== undefined ? { 'Retry-After': String(retryAfterHeader(error.retryAfterSeconds)) } : {};
    return json(error.status, { error: error.code, message: error.message }, headers);
  }
  if (isTransient(error)) {
    logger.warn('AWS throttled the request', errorFields(error));
    return json(503, { error: 'temporarily_unavailable', message: 'The broker is busy; retry shortly.' }, { 'Retry-After': '2' });
  }
  logger.error('unexpected error', errorFields(error));
  return json(500, { error: 'internal_error', message: 'The broker failed to handle the request; the error was logged.' });
}

/** Whole seconds from 1 to an hour (docs/api.md: every `Retry-After` the broker sends is at most 3600). */
export function retryAfterHeader(seconds: number): number {
  if (!Number.isFinite(seconds)) return MAX_RETRY_AFTER_SECONDS;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(seconds)));
}

/**
 * AWS failures that say "not now" rather than "never": throttling, the service's own 5xx, timeouts, and a
 * secret whose forced deletion Secrets Manager has not finished (a profile deleted and created again within
 * seconds). docs/api.md answers these with 503 and `Retry-After`.
 */
function isTransient(error: unknown): boolean {
  const { name, message, $metadata } = (error ?? {}) as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  if (
    name === 'ThrottlingException' ||
    name === 'ProvisionedThroughputExceededException' ||
    name === 'RequestLimitExceeded' ||
    name === 'TooManyRequestsException' ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout'
  ) {
    return true;
  }
  if (typeof $metadata === 'object' && typeof $metadata.httpStatusCode === 'number' && $metadata.httpStatusCode >= 500) return true;
  return name === 'InvalidRequestException' && typeof message === 'string' && /(scheduled|marked) for deletion/i.test(message);
}

/** Runs a handler body and maps anything it throws. */
export async function respond(logger: Log, work: () => Promise<APIGatewayProxyResult>): Promise<APIGatewayProxyResult> {
  try {
    return await work();
  } catch (error) {
    return errorResponse(error, logger);
  }
}

/** Kept for writing the response after the use case returns. */
const RESPONSE_MARGIN_MS = 2000;

/**
 * The time a use case may take: the function's remaining time less a margin for the response, so that a
 * refresh is only started when it can finish before the function times out. Nothing outside Lambda.
 */
export function timeLeft(context?: Pick<Context, 'getRemainingTimeInMillis'>): { remainingMs?: number } {
  const remaining = context?.getRemainingTimeInMillis?.();
  return remaining === undefined ? {} : { remainingMs: remaining - RESPONSE_MARGIN_MS };
}

export function pathParameter(event: APIGatewayProxyEvent, name: string): string | undefined {
  return event.pathParameters?.[name] ?? undefined;
}

/** The raw body as text (API Gateway may base64-encode it). */
export function bodyText(event: APIGatewayProxyEvent): string | null {
  if (event.body === null || event.body === undefined) return null;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/** `minValiditySeconds` (docs/api.md: 0..3600, default 60). */
export function minValiditySeconds(event: APIGatewayProxyEvent, fallback: number, max: number): number {
  const raw = event.queryStringParameters?.minValiditySeconds;
  if (raw === undefined || raw === null) return fallback;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > max) {
    throw invalidRequest(`minValiditySeconds must be a whole number of seconds from 0 to ${max}.`, 'bad_min_validity');
  }
  return Number(raw);
}

/** Query parameters as API Gateway delivers them (multi-value aware), for the callback. */
export function queryParameters(event: APIGatewayProxyEvent): URLSearchParams {
  const params = new URLSearchParams();
  const multi = event.multiValueQueryStringParameters;
  if (multi) {
    for (const [key, values] of Object.entries(multi)) for (const value of values ?? []) params.append(key, value);
  } else {
    for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) params.append(key, value);
  }
  return params;
}

export function methodNotAllowed(event: APIGatewayProxyEvent): BrokerError {
  return new BrokerError('invalid_request', `${event.httpMethod} ${event.resource} is not a route of this API.`, { reason: 'no_route' });
}

// -----------------------------------------------------------------------------------------------------
// HTML pages for the callback
// -----------------------------------------------------------------------------------------------------

const PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:36rem;padding:0 1rem;color:#1b1b1b}' +
  'h1{font-size:1.4rem;display:flex;gap:.6rem;align-items:center}.mark{font-size:2rem}' +
  '.ok .mark{color:#1a7f37}.fail .mark{color:#cf222e}p{line-height:1.5}code{background:#f2f2f2;padding:0 .25rem}';
const STYLE_HASH = createHash('sha256').update(PAGE_STYLE).digest('base64');

/** No script, no external resource, no framing; the inline style is allowed by its hash. */
export const CALLBACK_PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `link`: a way on from the page (local mode's "Back to the console"), absent in the cloud unless configured. */
export function htmlPage(
  statusCode: number,
  page: { ok: boolean; title: string; message: string; link?: { href: string; text: string } },
): APIGatewayProxyResult {
  const link = page.link ? `\n<p><a href="${escapeHtml(page.link.href)}">${escapeHtml(page.link.text)}</a></p>` : '';
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(page.title)} · oauth-broker</title><style>${PAGE_STYLE}</style></head>
<body class="${page.ok ? 'ok' : 'fail'}"><h1><span class="mark" aria-hidden="true">${page.ok ? '&#10004;' : '&#10008;'}</span>${escapeHtml(page.title)}</h1>
<p>${escapeHtml(page.message)}</p>${link}</body></html>
`;
  return { statusCode, headers: { ...CALLBACK_PAGE_HEADERS }, body };
}
