/**
 * Every log line an invocation writes, the handler's and the broker's, carries the Lambda request id
 * (`function_request_id`) and, for API requests, API Gateway's request id (`correlation_id`); a warm
 * container never carries one request's ids into the next.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Context } from 'aws-lambda';
import { createHandler as authorizeUrlHandler } from '../../../lambdas/authorize-url.js';
import { createHandler as callbackHandler } from '../../../lambdas/callback.js';
import { createHandler as profilesHandler } from '../../../lambdas/profiles.js';
import { createHandler as refreshHandler } from '../../../lambdas/refresh.js';
import { createHandler as tokenHandler } from '../../../lambdas/token.js';
import { Logger } from '@aws-lambda-powertools/logger';
import { createLogger, logInvocation, type HandlerContext } from '../../../lib/logger.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';
import { apiEvent } from '../support/events.js';
import { TestClock, brokerOn, profileBody, scriptedTokenEndpoint, useAwsMocks } from '../support/harness.js';

const aws = useAwsMocks();
let logs: LogCapture;

beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => logs.stop());

function lambdaContext(requestId: string): HandlerContext {
  return {
    awsRequestId: requestId,
    functionName: 'oauth-broker-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:oauth-broker-test',
    memoryLimitInMB: '256',
    getRemainingTimeInMillis: () => 25_000,
  } satisfies Partial<Context> & HandlerContext;
}

function withApiRequestId<T extends { requestContext: { requestId: string } }>(event: T, requestId: string): T {
  return { ...event, requestContext: { ...event.requestContext, requestId } };
}

/** The log entries written since `from` (EMF metric blobs are not log lines). */
const entriesSince = (from: number) => logs.entries().slice(from).filter((entry) => !('_aws' in entry));

describe('request ids in log lines', () => {
  it('every handler\'s lines, and the broker\'s lines within them, carry the Lambda and API Gateway request ids', async () => {
    const logger = createLogger();
    const clock = new TestClock();
    const endpoint = scriptedTokenEndpoint();
    const broker = brokerOn(aws, { logger, clock, fetch: endpoint.fetch });
    const handlers = {
      profiles: profilesHandler(() => broker, logger),
      authorizeUrl: authorizeUrlHandler(() => broker, logger),
      callback: callbackHandler(() => broker, logger),
      token: tokenHandler(() => broker, logger),
    };
    const invocations = [
      ['profiles', apiEvent({ method: 'PUT', resource: '/profiles/{id}', pathParameters: { id: 'erp' }, body: JSON.stringify(profileBody()) })],
      ['profiles', apiEvent({ method: 'PUT', resource: '/profiles/{id}', pathParameters: { id: 'm2m' }, body: JSON.stringify(profileBody({ grantType: 'client_credentials', authorizationUrl: undefined })) })],
      ['authorizeUrl', apiEvent({ method: 'GET', resource: '/profiles/{id}/authorize-url', pathParameters: { id: 'erp' } })],
      ['callback', apiEvent({ method: 'GET', resource: '/callback', query: { code: 'c', state: 'unknown-state' } })],
      // The token endpoint answers 500: the refresher logs the failure within the token request.
      ['token', apiEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id: 'm2m' } })],
    ] as const;

    for (const [i, [name, event]] of invocations.entries()) {
      const from = logs.entries().length;
      await handlers[name](withApiRequestId(event, `api-${i}`), lambdaContext(`lambda-${i}`));
      const lines = entriesSince(from);
      expect(lines.length, `${name} wrote no log line`).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line, `${name}: ${String(line.message)}`).toMatchObject({ function_request_id: `lambda-${i}`, correlation_id: `api-${i}` });
      }
    }
    const messages = logs.entries().map((line) => line.message);
    expect(messages).toEqual(expect.arrayContaining(['profile saved', 'authorization started', 'callback refused', 'refresh failed']));
  });

  it('the scheduled job\'s lines carry its own request id and no API request id left by an earlier request', async () => {
    const logger = createLogger();
    const clock = new TestClock();
    const broker = brokerOn(aws, { logger, clock, fetch: scriptedTokenEndpoint().fetch });
    await profilesHandler(() => broker, logger)(
      withApiRequestId(apiEvent({ method: 'PUT', resource: '/profiles/{id}', pathParameters: { id: 'erp' }, body: JSON.stringify(profileBody()) }), 'api-put'),
      lambdaContext('lambda-put'),
    );
    const from = logs.entries().length;
    await refreshHandler(() => broker, logger)({}, lambdaContext('lambda-run'));
    const lines = entriesSince(from);
    expect(lines.map((line) => line.message)).toContain('scheduled refresh run');
    for (const line of lines) {
      expect(line.function_request_id).toBe('lambda-run');
      expect(line).not.toHaveProperty('correlation_id');
    }
  });

  it('a request that writes no line leaves nothing behind, and a plain Powertools Logger gets the ids as well', async () => {
    for (const logger of [createLogger(), new Logger({ serviceName: 'plain' })]) {
      const clock = new TestClock();
      const broker = brokerOn(aws, { logger, clock, fetch: scriptedTokenEndpoint().fetch });
      const handler = profilesHandler(() => broker, logger);
      // GET of a missing profile answers 404 and writes nothing.
      await handler(withApiRequestId(apiEvent({ method: 'GET', resource: '/profiles/{id}', pathParameters: { id: 'none' } }), 'api-quiet'), lambdaContext('lambda-quiet'));
      const from = logs.entries().length;
      await handler(
        withApiRequestId(apiEvent({ method: 'PUT', resource: '/profiles/{id}', pathParameters: { id: 'loud' }, body: JSON.stringify(profileBody()) }), 'api-loud'),
        lambdaContext('lambda-loud'),
      );
      const lines = entriesSince(from);
      expect(lines.map((line) => line.message)).toContain('profile saved');
      for (const line of lines) expect(line).toMatchObject({ function_request_id: 'lambda-loud', correlation_id: 'api-loud' });
    }
  });
});

/** A logger as in an on-demand container (Powertools reads the initialization type when it is made). */
function onDemandLogger() {
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  try {
    return createLogger();
  } finally {
    vi.unstubAllEnvs();
  }
}

describe('cold_start in log lines', () => {
  it('is true on the container\'s first invocation only, even when that invocation writes nothing and a later one does', async () => {
    // Prepare
    const logger = onDemandLogger();
    const from = logs.entries().length;

    // Act: a silent first invocation (a warm token request writes nothing), then one that logs.
    logInvocation(logger, { context: lambdaContext('req-cold') });
    logInvocation(logger, { context: lambdaContext('req-warm') });
    logger.info('a line of the second invocation');

    // Assess
    const line = entriesSince(from).find((entry) => entry['message'] === 'a line of the second invocation');
    expect(line).toMatchObject({ function_request_id: 'req-warm', cold_start: false });
  });

  it('is true on the lines of the first invocation when it logs', () => {
    const logger = onDemandLogger();
    const from = logs.entries().length;

    logInvocation(logger, { context: lambdaContext('req-first') });
    logger.info('first line');
    logInvocation(logger, { context: lambdaContext('req-second') });
    logger.info('second line');

    const [first, second] = entriesSince(from);
    expect(first).toMatchObject({ message: 'first line', function_request_id: 'req-first', cold_start: true });
    expect(second).toMatchObject({ message: 'second line', function_request_id: 'req-second', cold_start: false });
  });
});
