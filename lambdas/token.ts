/**
 * `GET /profiles/{id}/token[?minValiditySeconds=N]`: the consumers' route (API.md "Tokens").
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS, type Broker } from '../lib/broker.js';
import { brokerFromEnvironment, sharedLogger } from '../lib/composition.js';
import { json, minValiditySeconds, pathParameter, respond, timeLeft } from '../lib/http.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export function createHandler(broker: () => Broker, logger: Log = sharedLogger()) {
  return (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    return respond(logger, async () => {
      const minValidity = minValiditySeconds(event, DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS);
      return json(200, await broker().getToken(pathParameter(event, 'id'), minValidity, timeLeft(context)));
    });
  };
}

export const handler = createHandler(brokerFromEnvironment);
