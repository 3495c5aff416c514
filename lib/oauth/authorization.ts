/**
 * The authorization request (RFC 6749 §4.1.1, RFC 7636) and the validation of the authorization response
 * the callback receives (RFC 6749 §4.1.2, RFC 9207).
 */
import * as oauth from 'oauth4webapi';
import type { ProfileConfig } from '../profile.js';
import { clientOf } from './client-auth.js';
import { isIssuerKnown } from './discovery.js';
import { OAuthFailure, isOAuthErrorCode } from './failures.js';
import { assertEndpointAllowed, type OAuthOptions } from './requests.js';

export interface AuthorizationRequest {
  url: URL;
  state: string;
  codeVerifier: string | null;
}

/**
 * Builds the authorization URL with a fresh `state` (oauth4webapi: 32 random bytes, 256 bits) and, unless
 * `usePkce` is false, a fresh PKCE S256 verifier.
 */
export async function buildAuthorizationRequest(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  redirectUri: string,
  options: Pick<OAuthOptions, 'urlPolicy'> = {},
): Promise<AuthorizationRequest> {
  if (!as.authorization_endpoint) {
    throw new OAuthFailure('invalid_configuration', 'error', 'The authorization server has no authorization endpoint: set authorizationUrl on the profile.');
  }
  // The URL is handed to a person's browser (and the CLI's opener): never one the policy refuses.
  assertEndpointAllowed(as.authorization_endpoint, options.urlPolicy ?? 'cloud', 'The authorization endpoint');
  const url = new URL(as.authorization_endpoint);
  const state = oauth.generateRandomState();
  // A public client always uses PKCE (a profile stored before that rule may say otherwise).
  const codeVerifier = config.usePkce || config.clientAuthMethod === 'none' ? oauth.generateRandomCodeVerifier() : null;
  if (config.scope) url.searchParams.set('scope', config.scope);
  for (const [key, value] of Object.entries(config.authorizationParams)) url.searchParams.set(key, value);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('state', state);
  if (codeVerifier) {
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return { url, state, codeVerifier };
}

/** Why a callback was refused, in words for the person looking at the page. */
export class AuthorizationResponseProblem extends Error {
  constructor(
    readonly reason: 'access_denied' | 'server_error' | 'iss_mismatch' | 'state_mismatch' | 'missing_code' | 'invalid_response',
    message: string,
    /** The server's `error` code, when it sent one. */
    readonly oauthError?: string,
    readonly description?: string,
  ) {
    super(message);
    this.name = 'AuthorizationResponseProblem';
  }
}

/**
 * Validates the parameters the authorization server sent to the callback: `state`, `iss` (RFC 9207 §2.4,
 * only when the issuer is known), an `error` response (RFC 6749 §4.1.2.1) and the presence of `code`.
 */
export function validateAuthorizationResponse(
  as: oauth.AuthorizationServer,
  config: ProfileConfig,
  parameters: URLSearchParams,
  expectedState: string,
): URLSearchParams {
  const params = new URLSearchParams(parameters);
  // Without a configured issuer there is nothing to compare `iss` with (RFC 9207 §2.4 applies to clients
  // that know the issuer); oauth4webapi would compare it with the placeholder.
  if (!isIssuerKnown(as)) params.delete('iss');
  let validated: URLSearchParams;
  try {
    validated = oauth.validateAuthResponse(as, clientOf(config), params, expectedState);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      // The code comes from the browser's URL: only one of OAuth's syntax is repeated.
      const code = isOAuthErrorCode(error.error) ? error.error : undefined;
      throw new AuthorizationResponseProblem(
        code === 'access_denied' ? 'access_denied' : 'server_error',
        code === 'access_denied'
          ? 'The authorization server reports that access was denied.'
          : code
            ? `The authorization server answered with the error "${code}".`
            : 'The authorization server answered with an error.',
        code,
        error.error_description,
      );
    }
    if (error instanceof oauth.OperationProcessingError && /"iss"/.test(error.message)) {
      throw new AuthorizationResponseProblem(
        'iss_mismatch',
        'The response did not come from the expected authorization server (its "iss" parameter does not match the profile\'s issuer).',
      );
    }
    if (error instanceof oauth.OperationProcessingError && /"state"/.test(error.message)) {
      throw new AuthorizationResponseProblem('state_mismatch', 'The "state" parameter does not match a pending authorization.');
    }
    throw new AuthorizationResponseProblem('invalid_response', 'The authorization response is not valid.');
  }
  if (!validated.get('code')) {
    throw new AuthorizationResponseProblem('missing_code', 'The authorization server sent no authorization code.');
  }
  return validated;
}
