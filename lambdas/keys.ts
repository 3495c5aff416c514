/**
 * The signing keys' admin routes (docs/keys.md "Rotation"), IAM like every admin route: `GET /keys`,
 * `POST /keys/rotate`, `POST /keys/promote`, `POST /keys/withdraw`, and `GET /profiles/{id}/signing-key`
 * (a profile's JWK and certificate).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { brokerSettings, profileReads, type BrokerSettingsView, type ProfileReads } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { BrokerError } from '../lib/errors.js';
import { bodyText, json, methodNotAllowed, pathParameter, respond } from '../lib/http.js';
import { parsePromoteRequest, parseRotateRequest, parseWithdrawRequest } from '../lib/keys/requests.js';
import type { SigningKeys } from '../lib/keys/signing-keys.js';
import type { Log } from '../lib/logger.js';

export function createHandler(broker: () => Pick<BrokerSettingsView, 'signingKeys'> & Pick<ProfileReads, 'getProfile'>, logger: Log = sharedLogger()) {
  const keys = (): SigningKeys => {
    const configured = broker().signingKeys;
    if (!configured) throw new BrokerError('conflict', 'This broker has no signing keys configured (see docs/keys.md).', { reason: 'no_signing_keys' });
    return configured;
  };
  return (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
    respond(logger, async () => {
      switch (`${event.httpMethod} ${event.resource}`) {
        case 'GET /keys':
          return json(200, await keys().list());
        case 'POST /keys/rotate':
          return json(200, await keys().rotate(parseRotateRequest(bodyText(event))));
        case 'POST /keys/promote':
          return json(200, await keys().promote(parsePromoteRequest(bodyText(event))));
        case 'POST /keys/withdraw':
          return json(200, await keys().withdraw(parseWithdrawRequest(bodyText(event))));
        case 'GET /profiles/{id}/signing-key': {
          const profile = await broker().getProfile(pathParameter(event, 'id'));
          return json(200, await keys().profileKey(profile));
        }
        default:
          throw methodNotAllowed(event);
      }
    });
}

export const handler = createHandler(fromEnvironment((ctx) => ({ ...brokerSettings(ctx), ...profileReads(ctx) })));
