/**
 * `GET /profiles/{id}/authorize-url`: the seed's "Copy Authorization URL" (docs/api.md "Authorization").
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { authorizationStart, type AuthorizationStart } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { json, pathParameter, respond } from '../lib/http.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export function createHandler(broker: () => AuthorizationStart, logger: Log = sharedLogger()) {
  return (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    return respond(logger, async () => json(200, await broker().createAuthorizationUrl(pathParameter(event, 'id'))));
  };
}

export const handler = createHandler(fromEnvironment(authorizationStart));
