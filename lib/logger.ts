/**
 * Structured JSON logs (Powertools Logger). Nothing that can hold a secret is ever passed here: errors
 * are logged through `errorFields`, which keeps only their name, code and our own message.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import type { Context } from 'aws-lambda';
import { isBrokerError } from './errors.js';
import { OAuthFailure } from './oauth.js';

export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(): Logger {
  return new InvocationLogger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'oauth-broker' });
}

/**
 * The loggable part of an error. oauth4webapi errors carry the token endpoint's body in `cause` and AWS
 * errors their request; neither is logged. Our own errors' messages are written to be safe.
 */
export function errorFields(error: unknown): { errorName: string; errorCode?: string; errorMessage?: string } {
  if (isBrokerError(error)) return { errorName: error.name, errorCode: error.code, errorMessage: error.message };
  if (error instanceof OAuthFailure) return { errorName: error.name, errorCode: error.code, errorMessage: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // AWS SDK errors name the failed operation and resource, never a secret value.
    const isAws = typeof (error as { $metadata?: unknown }).$metadata === 'object';
    return {
      errorName: error.name,
      ...(typeof code === 'string' ? { errorCode: code } : {}),
      ...(isAws ? { errorMessage: error.message } : {}),
    };
  }
  return { errorName: typeof error };
}

/** The Lambda context as the handlers use it (local mode and tests pass part of it, or none). */
export type HandlerContext = Pick<Context, 'getRemainingTimeInMillis'> & NonNullable<Invocation['context']>;

/** What a handler knows of its invocation: the Lambda context, and API Gateway's request id when there is one. */
export interface Invocation {
  context?: Partial<Pick<Context, 'awsRequestId' | 'functionName' | 'functionVersion' | 'invokedFunctionArn' | 'memoryLimitInMB'>> | undefined;
  event?: { requestContext?: { requestId?: string | undefined } | null } | undefined;
}

/**
 * Ties every following log line of this invocation to its request: the Lambda request id (Powertools
 * `addContext`: `function_request_id`, cold start, function name) and API Gateway's request id as
 * `correlation_id`. The previous invocation's correlation id is dropped first, so a warm container never
 * carries one request's id into the next. Loggers that are not Powertools' are left as they are.
 */
export function logInvocation(logger: Log, invocation: Invocation): void {
  if (logger instanceof InvocationLogger) logger.setInvocation(invocation);
  else applyInvocation(logger, invocation);
}

function applyInvocation(logger: Log, { context, event }: Invocation): void {
  const powertools = logger as Partial<Pick<Logger, 'addContext' | 'removeKeys' | 'setCorrelationId'>>;
  if (typeof powertools.addContext !== 'function') return;
  powertools.removeKeys?.(['correlation_id']);
  if (context?.awsRequestId) powertools.addContext(context as Context);
  const apiRequestId = event?.requestContext?.requestId;
  if (apiRequestId) powertools.setCorrelationId?.(apiRequestId);
}

/**
 * The broker's Powertools Logger: an invocation's request ids are applied when the invocation writes its
 * first line, so a warm token request that writes none pays one assignment for them.
 */
class InvocationLogger extends Logger {
  #pending: { invocation: Invocation; coldStart: boolean } | undefined;
  #applying: boolean | undefined;

  setInvocation(invocation: Invocation): void {
    // Taken now, not when the first line is written: Powertools' cold start flag is true only the first
    // time it is read, which would otherwise be the first invocation that logs, however warm.
    this.#pending = { invocation, coldStart: super.getColdStart() };
  }

  /** While an invocation is applied, its own cold start (Powertools' `addContext` reads it here). */
  override getColdStart(): boolean {
    return this.#applying ?? super.getColdStart();
  }

  #apply(): void {
    if (this.#pending === undefined) return;
    const { invocation, coldStart } = this.#pending;
    this.#pending = undefined;
    this.#applying = coldStart;
    try {
      applyInvocation(this, invocation);
    } finally {
      this.#applying = undefined;
    }
  }

  /** Every level's line passes here. */
  protected override processLogItem(logLevel: number, input: LogItemMessage, extraInput: LogItemExtraInput): void {
    this.#apply();
    super.processLogItem(logLevel, input, extraInput);
  }
}
