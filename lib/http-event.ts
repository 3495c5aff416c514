/**
 * The `APIGatewayProxyEvent` that API Gateway's REST proxy integration delivers, built from the parts of one
 * request. Local mode's HTTP adapter (`lib/local/http-adapter.ts`) and the tests that drive the `lambdas/`
 * handlers build their events here, so both have the shape the handlers get in the cloud.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ProxyEventRequest {
  method: string;
  /** The route template, e.g. `/profiles/{id}/token`. */
  resource: string;
  /** The concrete path, e.g. `/profiles/p-1/token`. */
  path: string;
  pathParameters: Record<string, string> | null;
  /** The query parameters in order, values decoded; a key may repeat. */
  query: Iterable<readonly [string, string]>;
  headers: Record<string, string>;
  /** Default: every header of `headers` with its one value. */
  multiValueHeaders?: Record<string, string[]>;
  body: string | null;
}

/** Where the request arrived (`requestContext`): the API, its stage, the caller. */
export interface ProxyEventContext {
  accountId: string;
  apiId: string;
  stage: string;
  resourceId: string;
  protocol: string;
  sourceIp: string;
  userAgent: string | null;
  requestId: string;
  requestTimeEpoch: number;
}

export function proxyEvent(request: ProxyEventRequest, context: ProxyEventContext): APIGatewayProxyEvent {
  const { method, resource, path, headers } = request;
  // API Gateway: the single-value map keeps the last value of a repeated key; both maps are `null` when empty.
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [key, value] of request.query) {
    query[key] = value;
    (multiQuery[key] ??= []).push(value);
  }
  const hasQuery = Object.keys(query).length > 0;
  return {
    httpMethod: method,
    resource,
    path,
    pathParameters: request.pathParameters,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    headers,
    multiValueHeaders: request.multiValueHeaders ?? Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    body: request.body,
    isBase64Encoded: false,
    stageVariables: null,
    requestContext: {
      accountId: context.accountId,
      apiId: context.apiId,
      authorizer: null,
      protocol: context.protocol,
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
        sourceIp: context.sourceIp,
        user: null,
        userAgent: context.userAgent,
        userArn: null,
      },
      path: `/${context.stage}${path}`,
      stage: context.stage,
      requestId: context.requestId,
      requestTimeEpoch: context.requestTimeEpoch,
      resourceId: context.resourceId,
      resourcePath: resource,
    },
  };
}
