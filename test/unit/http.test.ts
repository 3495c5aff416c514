/**
 * `errorResponse` (lib/http.ts) for AWS failures that are not the broker's own errors: "not now" answers
 * 503 `temporarily_unavailable` with `Retry-After` (throttling, the service's own 5xx, SDK timeouts, a secret
 * whose deletion Secrets Manager has not finished), anything else 500 `internal_error`; the body never
 * carries the exception's text (docs/api.md: "A 5xx never echoes exception text").
 */
import { describe, expect, it } from 'vitest';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { InternalServerError, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { InternalServiceError, InvalidRequestException, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { temporarilyUnavailable } from '../../lib/errors.js';
import { errorResponse } from '../../lib/http.js';
import { captureLogger } from './support/harness.js';

/** A message distinctive enough to search for in a body. */
const DETAIL = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:oauth-broker/prod/erp/token-set-AbCdEf';

function answer(error: unknown): { result: APIGatewayProxyResult; body: { error: string; message: string }; lines: string[] } {
  const log = captureLogger();
  const result = errorResponse(error, log.logger);
  return { result, body: JSON.parse(result.body) as { error: string; message: string }, lines: log.lines };
}

function expectUnavailable(error: unknown): void {
  const { result, body } = answer(error);
  expect(result.statusCode, result.body).toBe(503);
  expect(body.error).toBe('temporarily_unavailable');
  expect(typeof body.message).toBe('string');
  const retryAfter = result.headers?.['Retry-After'];
  expect(retryAfter, 'Retry-After').toMatch(/^[1-9][0-9]*$/);
  expect(result.headers?.['Content-Type']).toMatch(/^application\/json/);
  expect(result.headers?.['Cache-Control']).toBe('no-store');
  expect(result.body).not.toContain(DETAIL);
  expect(result.body).not.toContain((error as Error).message);
}

function expectInternal(error: unknown): void {
  const { result, body } = answer(error);
  expect(result.statusCode, result.body).toBe(500);
  expect(body.error).toBe('internal_error');
  expect(result.headers?.['Retry-After']).toBeUndefined();
  expect(result.body).not.toContain(DETAIL);
  expect(result.body).not.toContain((error as Error).message);
}

describe('errorResponse for AWS failures', () => {
  it('an AWS error with $metadata.httpStatusCode 500 → 503 temporarily_unavailable with Retry-After, no error text', () => {
    expectUnavailable(new InternalServerError({ $metadata: { httpStatusCode: 500 }, message: `Internal server error (${DETAIL})` }));
    expectUnavailable(new InternalServiceError({ $metadata: { httpStatusCode: 500 }, message: `An error occurred on the server side (${DETAIL})` }));
  });

  it('an AWS error with $metadata.httpStatusCode 503 → 503 temporarily_unavailable with Retry-After, no error text', () => {
    const error = new SecretsManagerServiceException({
      name: 'ServiceUnavailable',
      $fault: 'server',
      $metadata: { httpStatusCode: 503 },
      message: `Service unavailable (${DETAIL})`,
    });
    expectUnavailable(error);
  });

  it('Secrets Manager InvalidRequestException "marked for deletion" → 503', () => {
    const message = "You can't perform this operation on the secret because it was marked for deletion.";
    expectUnavailable(new InvalidRequestException({ $metadata: { httpStatusCode: 400 }, message, Message: message }));
  });

  it('Secrets Manager InvalidRequestException "already scheduled for deletion" (CreateSecret) → 503', () => {
    const message = "You can't create this secret because a secret with this name is already scheduled for deletion.";
    expectUnavailable(new InvalidRequestException({ $metadata: { httpStatusCode: 400 }, message, Message: message }));
  });

  it('an InvalidRequestException with another message → 500 internal_error, no error text', () => {
    const message = `You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays (${DETAIL}).`;
    expectInternal(new InvalidRequestException({ $metadata: { httpStatusCode: 400 }, message, Message: message }));
  });

  it('an AWS client error (4xx status) that is not throttling → 500 internal_error', () => {
    const error = new SecretsManagerServiceException({
      name: 'ValidationException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: `1 validation error detected (${DETAIL})`,
    });
    expectInternal(error);
  });

  it("the SDK's TimeoutError (socket or connection timeout) → 503", () => {
    expectUnavailable(
      Object.assign(new Error(`@smithy/node-http-handler - the request socket timed out after 3000 ms of inactivity (${DETAIL}).`), { name: 'TimeoutError' }),
    );
    expectUnavailable(Object.assign(new Error(`Socket timed out without establishing a connection within 1000 ms (${DETAIL})`), { name: 'TimeoutError' }));
  });

  it('throttling still → 503 (unchanged)', () => {
    expectUnavailable(new ProvisionedThroughputExceededException({ $metadata: { httpStatusCode: 400 }, message: `Rate exceeded (${DETAIL})` }));
  });

  it('a plain Error → 500 internal_error, and a 5xx is logged by name', () => {
    const error = new TypeError(`x is undefined (${DETAIL})`);
    expectInternal(error);
    const { lines } = answer(error);
    expect(lines.join('\n')).toContain('TypeError');
    expect(lines.join('\n')).not.toContain(DETAIL);
  });
});

describe('Retry-After sent by the broker', () => {
  it.each<[number, string]>([
    [0, '1'],
    [1.2, '2'],
    [3600, '3600'],
    [99_999_999_999, '3600'],
    [Number.POSITIVE_INFINITY, '3600'],
  ])('%d seconds is sent as %s (1 s to 1 h)', (seconds, header) => {
    // Prepare
    const error = temporarilyUnavailable('Busy.', seconds);

    // Act
    const result = errorResponse(error, { debug() {}, info() {}, warn() {}, error() {} });

    // Assess
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe(header);
  });
});
