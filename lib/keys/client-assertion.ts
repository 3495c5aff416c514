/**
 * `private_key_jwt` client authentication (OpenID Connect Core §9, RFC 7523 §2.2 and §3, RFC 7521 §4.2) as
 * an oauth4webapi `ClientAuth`: oauth4webapi builds every token and revocation request and calls this to
 * add the client's credentials, which are a fresh assertion signed through the signer port.
 */
import { randomBytes } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import { isBrokerError } from '../errors.js';
import { isIssuerKnown, OAuthFailure } from '../oauth.js';
import type { ProfileConfig } from '../profile.js';
import { KeyMismatchError, signCompactJws, SigningError, type Signer } from './signer.js';

/** RFC 7521 §4.2 */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How long an assertion is valid: short (a stolen one is soon useless), with room for clock skew; never over 5 minutes. */
export const ASSERTION_LIFETIME_SECONDS = 120;

export type ClientAssertionAudience = 'issuer' | 'token_endpoint';
export const CLIENT_ASSERTION_AUDIENCES = ['issuer', 'token_endpoint'] as const;

/** What the assertion's header carries besides `alg`, `kid` and `typ` (the certificate's thumbprints, for Entra ID). */
export type AssertionHeader = Record<string, string>;

/**
 * RFC 7523 §3 item 3: `aud` identifies the authorization server. Its issuer identifier by default
 * (draft-ietf-oauth-rfc7523bis); the token endpoint URL when the profile says `token_endpoint` (servers such
 * as Entra ID and older Keycloak), and also when the profile names no issuer (there is nothing else to name).
 */
export function assertionAudience(as: oauth.AuthorizationServer, config: Pick<ProfileConfig, 'clientAssertionAudience'>): string {
  const wanted = config.clientAssertionAudience ?? 'issuer';
  if (wanted === 'issuer' && isIssuerKnown(as)) return as.issuer;
  if (!as.token_endpoint) {
    throw new OAuthFailure('invalid_configuration', 'error', 'The client assertion needs an audience: set the profile\'s issuer or tokenUrl.');
  }
  return as.token_endpoint;
}

/**
 * The claims of one client assertion (RFC 7523 §3): `iss` = `sub` = the client id, the audience, a unique
 * `jti` (128 random bits), `iat` and an `exp` {@link ASSERTION_LIFETIME_SECONDS} later. Times are the wall
 * clock's: they are checked by the server against its own clock.
 */
export function assertionClaims(clientId: string, audience: string, nowMs: number): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return { iss: clientId, sub: clientId, aud: audience, jti: randomBytes(16).toString('base64url'), iat, exp: iat + ASSERTION_LIFETIME_SECONDS };
}

export interface ClientAssertionOptions {
  /** The signer of the profile's current key, resolved per request (the current key may change by rotation). */
  signer: () => Promise<{ signer: Signer; header: AssertionHeader }>;
  /** Wall-clock milliseconds; default `Date.now`. */
  now?: () => number;
}

/**
 * An assertion is a bearer credential for its audience until it expires, so it is only ever sent to the
 * audience's own server (origin): a token or revocation endpoint moved elsewhere by a profile edit would
 * otherwise receive one it could replay at the real server. The request goes to the token endpoint, or to
 * the revocation endpoint for a revocation (RFC 7009 §2.1: its body has `token`, a token request's
 * `grant_type`). Throws, before anything is signed, when they differ.
 */
export function assertSameServer(as: oauth.AuthorizationServer, body: URLSearchParams, audience: string): void {
  const endpoint = body.has('grant_type') ? as.token_endpoint : as.revocation_endpoint;
  const origin = (url: string | undefined) => {
    try {
      return url ? new URL(url).origin : undefined;
    } catch {
      return undefined;
    }
  };
  if (origin(endpoint) === undefined || origin(endpoint) !== origin(audience)) {
    throw new OAuthFailure(
      'invalid_configuration',
      'error',
      `No client assertion was sent: its audience (${origin(audience) ?? audience}) is another server than the endpoint it would go to (${origin(endpoint) ?? 'none'}). ` +
        'Give the profile endpoints on its issuer\'s server, or set clientAssertionAudience to "token_endpoint" when the server names another origin for it.',
    );
  }
}

/** The `ClientAuth` of a `private_key_jwt` profile: `client_id`, `client_assertion_type` and `client_assertion` in the body. */
export function privateKeyJwt(config: Pick<ProfileConfig, 'clientAssertionAudience'>, options: ClientAssertionOptions): oauth.ClientAuth {
  const now = options.now ?? Date.now;
  return async (as, client, body) => {
    const audience = assertionAudience(as, config);
    assertSameServer(as, body, audience);
    const assertion = await signed(options, assertionClaims(client.client_id, audience, now()));
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
    body.set('client_assertion', assertion);
  };
}

/** Signer failures as the one classifier reads them: a busy signer is passing, an unusable key an `error`. */
async function signed(options: ClientAssertionOptions, claims: Record<string, unknown>): Promise<string> {
  try {
    const { signer, header } = await options.signer();
    return await signCompactJws(signer, claims, header);
  } catch (error) {
    if (error instanceof SigningError) {
      throw new OAuthFailure(error.kind === 'passing' ? 'signing_failed' : 'signing_key_unusable', error.kind, error.message);
    }
    if (error instanceof KeyMismatchError) throw new OAuthFailure('signing_key_unusable', 'error', error.message);
    // No key could be had for the profile's algorithm (none configured, KMS down while making the first one).
    if (isBrokerError(error)) throw new OAuthFailure(error.status === 503 ? 'signing_failed' : 'signing_key_unusable', error.status === 503 ? 'passing' : 'error', error.message);
    throw error;
  }
}
