/**
 * API Gateway (REST, proxy integration) events for the handler tests, shaped like the ones API Gateway
 * delivers: both the single- and the multi-value query maps, `null` where API Gateway sends `null`.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

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
  const filledPath =
    path ?? resource.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(pathParameters?.[name] ?? `{${name}}`));
  const hasQuery = query !== undefined && Object.keys(query).length > 0;
  return {
    httpMethod: method,
    resource,
    path: filledPath,
    pathParameters: pathParameters ?? null,
    queryStringParameters: hasQuery ? { ...query } : null,
    multiValueQueryStringParameters: hasQuery ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    multiValueHeaders: body ? { 'Content-Type': ['application/json'] } : {},
    body: body ?? null,
    isBase64Encoded: false,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api-test',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '127.0.0.1',
        user: null,
        userAgent: 'vitest',
        userArn: null,
      },
      path: `/test${filledPath}`,
      stage: 'test',
      requestId: 'request-1',
      requestTimeEpoch: 0,
      resourceId: 'resource-1',
      resourcePath: resource,
    },
  };
}
