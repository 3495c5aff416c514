/**
 * Structured JSON logs (Powertools Logger). Nothing that can hold a secret is ever passed here: errors
 * are logged through `errorFields`, which keeps only their name, code and our own message.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { isBrokerError } from './errors.js';
import { OAuthFailure } from './oauth.js';

export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'oauth-broker' });
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
