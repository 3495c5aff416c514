/**
 * `PUT|GET|DELETE /profiles/{id}`, `GET /profiles` (docs/api.md "Profiles") and `POST /profiles/{id}/refresh`:
 * the routes of lib/routes.ts served by the `profiles` function, one action each.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { profileReads, profileWrites, type ProfileReads, type ProfileWrites } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { bodyText, json, methodNotAllowed, noContent, pathParameter, respond, timeLeft } from '../lib/http.js';
import { logInvocation, type HandlerContext, type Log } from '../lib/logger.js';
import type { RouteKeyOf } from '../lib/routes.js';

/** What the routes call: reading and writing profiles, nothing of the other functions (their bundle stays out). */
type ProfilesBroker = ProfileReads & ProfileWrites;

type Action = (broker: ProfilesBroker, event: APIGatewayProxyEvent, context: HandlerContext | undefined) => Promise<APIGatewayProxyResult>;

/** Exactly the routes lib/routes.ts gives this function: the compiler refuses a missing or extra one. */
export const PROFILE_ROUTES = {
  'GET /profiles': async (broker) => json(200, { profiles: await broker.listProfiles() }),
  'GET /profiles/{id}': async (broker, event) => json(200, await broker.getProfile(pathParameter(event, 'id'))),
  'PUT /profiles/{id}': async (broker, event) => {
    const { created, view } = await broker.putProfile(pathParameter(event, 'id'), bodyText(event));
    return json(created ? 201 : 200, view);
  },
  'POST /profiles/{id}/refresh': async (broker, event, context) =>
    json(200, await broker.refreshNow(pathParameter(event, 'id'), timeLeft(context))),
  'DELETE /profiles/{id}': async (broker, event) => {
    await broker.deleteProfile(pathParameter(event, 'id'));
    return noContent();
  },
} satisfies Record<RouteKeyOf<'profiles'>, Action>;

export function createHandler(broker: () => ProfilesBroker, logger: Log = sharedLogger()) {
  return (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    return respond(logger, async () => {
      const key = `${event.httpMethod} ${event.resource}`;
      if (!Object.hasOwn(PROFILE_ROUTES, key)) throw methodNotAllowed(event);
      return PROFILE_ROUTES[key as keyof typeof PROFILE_ROUTES](broker(), event, context);
    });
  };
}

export const handler = createHandler(fromEnvironment((ctx) => ({ ...profileReads(ctx), ...profileWrites(ctx) })));
