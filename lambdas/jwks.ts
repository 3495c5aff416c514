/**
 * `GET /jwks` (docs/api.md "GET /jwks"): public, no IAM. The public keys of `private_key_jwt` profiles as a
 * JSON Web Key Set, for servers that register the broker's `jwks_uri`. Cacheable for five minutes.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { BrokerSettingsView } from '../lib/broker.js';
import { sharedLogger, signingKeysFromEnvironment } from '../lib/composition.js';
import { json, methodNotAllowed, respond } from '../lib/http.js';
import { JWKS_MAX_AGE_SECONDS } from '../lib/keys/signing-keys.js';
import type { Log } from '../lib/logger.js';

export function createHandler(broker: () => Pick<BrokerSettingsView, 'signingKeys'>, logger: Log = sharedLogger()) {
  return (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
    respond(logger, async () => {
      if (`${event.httpMethod} ${event.resource}` !== 'GET /jwks') throw methodNotAllowed(event);
      const keys = broker().signingKeys;
      const set = keys ? await keys.jwks() : { keys: [] };
      // Served as application/json, as most servers serve theirs: some JWKS clients accept nothing else.
      return json(200, set, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` });
    });
}

export const handler = createHandler(signingKeysFromEnvironment);
