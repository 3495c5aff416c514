/**
 * Client authentication at the token endpoint (RFC 6749 §2.3): the methods, and the Basic credentials as
 * they are sent (so that they can be cut out of anything a server echoes).
 */
import * as oauth from 'oauth4webapi';
import type { ClientAuthMethod, ProfileConfig } from '../profile.js';
import { OAuthFailure } from './failures.js';
import type { OAuthOptions } from './requests.js';

export function clientOf(config: ProfileConfig): oauth.Client {
  return { client_id: config.clientId, token_endpoint_auth_method: config.clientAuthMethod };
}

/**
 * RFC 6749 §2.3.1 (basic, post), "none" for public clients (RFC 7591 §2) and `private_key_jwt` (RFC 7523
 * §2.2) through `assertion`.
 */
export function clientAuthentication(
  method: ClientAuthMethod,
  clientSecret: string | undefined,
  assertion?: () => oauth.ClientAuth,
): oauth.ClientAuth {
  switch (method) {
    case 'private_key_jwt':
      if (!assertion) throw new OAuthFailure('invalid_configuration', 'error', 'This broker has no signing keys configured, so it cannot use private_key_jwt: see docs/keys.md.');
      return assertion();
    case 'client_secret_basic':
      return oauth.ClientSecretBasic(requireSecret(clientSecret));
    case 'client_secret_post':
      return oauth.ClientSecretPost(requireSecret(clientSecret));
    case 'none':
      return oauth.None();
  }
}

/** The profile's client authentication for one request. */
export function clientAuthOf(config: ProfileConfig, context: OAuthOptions & { clientSecret: string | undefined }): oauth.ClientAuth {
  const { clientAssertion } = context;
  return clientAuthentication(config.clientAuthMethod, context.clientSecret, clientAssertion && (() => clientAssertion(config)));
}

/**
 * A profile that needs a client secret and has none stored (possibly a PUT still writing it): a passing
 * failure, retried with backoff, not the server's verdict on the client.
 */
function requireSecret(secret: string | undefined): string {
  if (!secret) throw new OAuthFailure('client_secret_missing', 'passing', 'No client secret is stored for this profile yet: set clientSecret with PUT /profiles/{id}.');
  return secret;
}

/** `client_secret_basic` credentials as sent (RFC 6749 §2.3.1: form-encoded, then base64), and unencoded. */
export function basicAuthCredentials(clientId: string, clientSecret: string): string[] {
  const encoded = Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`).toString('base64');
  const plain = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
  return encoded === plain ? [encoded] : [encoded, plain];
}

/** application/x-www-form-urlencoded as oauth4webapi writes Basic credentials (RFC 6749 Appendix B). */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[-_.!~*'()]|%20/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}
