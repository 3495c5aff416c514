/**
 * `GET /profiles/{id}/token[?minValiditySeconds=N]`: the consumers' route (docs/api.md "Tokens").
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS, tokenUseCases, type TokenUseCases } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { errorResponse, json, minValiditySeconds, pathParameter, timeLeft } from '../lib/http.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export function createHandler(broker: () => TokenUseCases, logger: Log = sharedLogger()) {
  return async (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    // The warm path of every consumer: one async function, no closure per request.
    try {
      const minValidity = minValiditySeconds(event, DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS);
      return json(200, await broker().getToken(pathParameter(event, 'id'), minValidity, timeLeft(context)));
    } catch (error) {
      return errorResponse(error, logger);
    }
  };
}

export const handler = createHandler(fromEnvironment(tokenUseCases));
