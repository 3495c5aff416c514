/**
 * `PUT|GET|DELETE /profiles/{id}`, `GET /profiles` (API.md "Profiles") and `POST /profiles/{id}/refresh`.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Broker } from '../lib/broker.js';
import { brokerFromEnvironment, sharedLogger } from '../lib/composition.js';
import { bodyText, json, methodNotAllowed, noContent, pathParameter, respond, timeLeft } from '../lib/http.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export function createHandler(broker: () => Broker, logger: Log = sharedLogger()) {
  return (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    return respond(logger, async () => {
      const id = pathParameter(event, 'id');
      switch (`${event.httpMethod} ${event.resource}`) {
        case 'GET /profiles':
          return json(200, { profiles: await broker().listProfiles() });
        case 'GET /profiles/{id}':
          return json(200, await broker().getProfile(id));
        case 'PUT /profiles/{id}': {
          const { created, view } = await broker().putProfile(id, bodyText(event));
          return json(created ? 201 : 200, view);
        }
        case 'POST /profiles/{id}/refresh':
          return json(200, await broker().refreshNow(id, timeLeft(context)));
        case 'DELETE /profiles/{id}':
          await broker().deleteProfile(id);
          return noContent();
        default:
          throw methodNotAllowed(event);
      }
    });
  };
}

export const handler = createHandler(brokerFromEnvironment);
