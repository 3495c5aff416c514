/**
 * API Gateway REST (proxy integration) events for driving the real Lambda handlers in integration tests,
 * shaped like the ones API Gateway delivers: single- and multi-value query maps (values already
 * URL-decoded; the single-value map keeps the LAST value of a repeated key, as API Gateway does), `null`
 * where API Gateway sends `null`, and the route template in `resource`.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent } from '../../lib/http-event.js';

export interface ApiRequest {
  method: string;
  /** The route template, e.g. `/profiles/{id}`. */
  resource: string;
  pathParameters?: Record<string, string>;
  /** Query parameters in order; repeated keys allowed. A `URLSearchParams` or a plain object. */
  query?: URLSearchParams | Record<string, string>;
  body?: string | null;
  headers?: Record<string, string>;
}

/** `resource` with its path parameters filled in (URL-encoded), e.g. `/profiles/p-1/token`. */
export function resourcePath(resource: string, pathParameters: Record<string, string> | undefined): string {
  return resource.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(pathParameters?.[name] ?? `{${name}}`));
}

export function apiGatewayEvent(request: ApiRequest): APIGatewayProxyEvent {
  const { method, resource, pathParameters, body } = request;
  const headers: Record<string, string> = {
    Host: 'api.example.test',
    'User-Agent': 'vitest',
    ...(body ? { 'Content-Type': 'application/json' } : {}),
    ...request.headers,
  };
  return proxyEvent(
    {
      method,
      resource,
      path: resourcePath(resource, pathParameters),
      pathParameters: pathParameters ?? null,
      query: request.query instanceof URLSearchParams ? request.query : new URLSearchParams(request.query ?? {}),
      headers,
      body: body ?? null,
    },
    {
      accountId: '123456789012',
      apiId: 'integration',
      stage: 'test',
      resourceId: 'resource',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'vitest',
      requestId: `request-${Math.random().toString(36).slice(2)}`,
      requestTimeEpoch: Date.now(),
    },
  );
}

/** The broker's routes (docs/api.md), as events. */
export const events = {
  putProfile: (id: string, body: unknown) =>
    apiGatewayEvent({
      method: 'PUT',
      resource: '/profiles/{id}',
      pathParameters: { id },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  getProfile: (id: string) => apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}', pathParameters: { id } }),
  listProfiles: () => apiGatewayEvent({ method: 'GET', resource: '/profiles' }),
  deleteProfile: (id: string) => apiGatewayEvent({ method: 'DELETE', resource: '/profiles/{id}', pathParameters: { id } }),
  authorizeUrl: (id: string) =>
    apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/authorize-url', pathParameters: { id } }),
  token: (id: string, query?: Record<string, string>) =>
    apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id }, ...(query ? { query } : {}) }),
  /** `GET /callback` with the query of a redirect URL (or of a bare query). */
  callback: (redirect: string | URL | URLSearchParams) =>
    apiGatewayEvent({
      method: 'GET',
      resource: '/callback',
      query: redirect instanceof URLSearchParams ? redirect : new URL(redirect).searchParams,
      headers: { Accept: 'text/html' },
    }),
};

/** A JSON response body, parsed. */
export function jsonBody<T = Record<string, unknown>>(result: APIGatewayProxyResult): T {
  return JSON.parse(result.body) as T;
}

/** A header of a proxy result, case-insensitively. */
export function header(result: APIGatewayProxyResult, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(result.headers ?? {})) if (key.toLowerCase() === wanted) return String(value);
  return undefined;
}
