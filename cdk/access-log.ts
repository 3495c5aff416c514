/**
 * The API's access-log line, built by hand from `$context` variables so that it never holds a query
 * string: `GET /callback?code=…&state=…` carries an authorization code and its state, and those must not
 * reach a log.
 *
 * - `$context.resourcePath` is the route template (`/profiles/{id}/token`) and `$context.path` the
 *   request path (`/<stage>/profiles/erp/token`); neither includes the query string.
 * - Left out on purpose: `$context.requestOverride.*` (can hold query overrides), `$context.error.message`
 *   and `$context.authorize.error` / `$context.authenticate.error` (a SigV4 failure message quotes the
 *   canonical request, query string included), `$context.error.validationErrorString` (can quote body
 *   values), `$context.identity.userAgent` (client-controlled text that API Gateway does not escape, so
 *   it could forge JSON fields), and anything `$input` / `$method.request`.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  requestTimeEpoch: '$context.requestTimeEpoch',
  stage: '$context.stage',
  domainName: '$context.domainName',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  protocol: '$context.protocol',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatencyMs: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatencyMs: '$context.integration.latency',
  errorType: '$context.error.responseType',
  sourceIp: '$context.identity.sourceIp',
  callerAccountId: '$context.identity.accountId',
  caller: '$context.identity.caller',
  userArn: '$context.identity.userArn',
};

/**
 * One JSON object per request. Every value is quoted: API Gateway writes `-` for a missing value, which
 * would break JSON for an unquoted number.
 */
export function accessLogFormat(): string {
  return JSON.stringify(ACCESS_LOG_FIELDS);
}
