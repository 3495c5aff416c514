/**
 * API Gateway (REST, proxy integration) events for the handler tests, shaped like the ones API Gateway
 * delivers: both the single- and the multi-value query maps, `null` where API Gateway sends `null`.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { proxyEvent } from '../../../lib/http-event.js';
import { resourcePath } from '../../support/api-events.js';

export interface ApiEventInput {
  method: string;
  /** The route template, e.g. `/profiles/{id}`. */
  resource: string;
  /** The concrete path; defaults to `resource` with the path parameters filled in. */
  path?: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  body?: string | null;
}

export function apiEvent({ method, resource, path, pathParameters, query, body }: ApiEventInput): APIGatewayProxyEvent {
  return proxyEvent(
    {
      method,
      resource,
      path: path ?? resourcePath(resource, pathParameters),
      pathParameters: pathParameters ?? null,
      query: Object.entries(query ?? {}),
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ?? null,
    },
    {
      accountId: '123456789012',
      apiId: 'api-test',
      stage: 'test',
      resourceId: 'resource-1',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'vitest',
      requestId: 'request-1',
      requestTimeEpoch: 0,
    },
  );
}
