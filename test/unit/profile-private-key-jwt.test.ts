/**
 * `PUT /profiles/{id}` bodies with `clientAuthMethod: "private_key_jwt"` (docs/keys.md "Using it"): no client
 * secret, the assertion fields with their defaults, and the combinations that are refused.
 */
import { describe, expect, it } from 'vitest';
import { parseProfileInput } from '../../lib/profile-input.js';
import { usesClientSecret } from '../../lib/profile.js';

const body = (fields: Record<string, unknown>) =>
  JSON.stringify({ tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/authorize', clientId: 'mes', ...fields });

describe('private_key_jwt profile input', () => {
  it('needs no client secret and defaults to ES256 with the issuer as audience', () => {
    const { config, clientSecret } = parseProfileInput(body({ clientAuthMethod: 'private_key_jwt' }));
    expect(clientSecret).toBeUndefined();
    expect(config).toMatchObject({ clientAuthMethod: 'private_key_jwt', clientAssertionAlgorithm: 'ES256', clientAssertionAudience: 'issuer' });
  });

  it('accepts RS256 or PS256 and the token endpoint as audience, for both grants', () => {
    const { config } = parseProfileInput(
      body({ grantType: 'client_credentials', authorizationUrl: undefined, clientAuthMethod: 'private_key_jwt', clientAssertionAlgorithm: 'PS256', clientAssertionAudience: 'token_endpoint' }),
    );
    expect(config).toMatchObject({ grantType: 'client_credentials', clientAssertionAlgorithm: 'PS256', clientAssertionAudience: 'token_endpoint' });
  });

  it('leaves the assertion fields out of other methods\' profiles', () => {
    const { config } = parseProfileInput(body({ clientSecret: 'a-secret-value' }));
    expect(config).not.toHaveProperty('clientAssertionAlgorithm');
    expect(config).not.toHaveProperty('clientAssertionAudience');
  });

  it.each([
    [{ clientAuthMethod: 'private_key_jwt', clientSecret: 'do-not-echo-this' }, /clientSecret must be omitted when clientAuthMethod is "private_key_jwt"/],
    [{ clientSecret: 'do-not-echo-this', clientAssertionAlgorithm: 'ES256' }, /clientAssertionAlgorithm applies only when clientAuthMethod is "private_key_jwt"/],
    [{ clientSecret: 'do-not-echo-this', clientAssertionAudience: 'issuer' }, /clientAssertionAudience applies only when clientAuthMethod is "private_key_jwt"/],
    [{ clientAuthMethod: 'private_key_jwt', clientAssertionAlgorithm: 'HS256' }, /clientAssertionAlgorithm: must be one of "ES256", "RS256", "PS256"/],
    [{ clientAuthMethod: 'private_key_jwt', clientAssertionAudience: 'resource' }, /clientAssertionAudience: must be one of "issuer", "token_endpoint"/],
  ])('refuses %j with invalid_request', (fields, message) => {
    let error: unknown;
    try {
      parseProfileInput(body(fields));
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'invalid_request', status: 400, message: expect.stringMatching(message) });
    expect((error as Error).message).not.toContain('do-not-echo-this');
  });

  it('only the secret-based methods send a client secret', () => {
    expect(usesClientSecret('client_secret_basic')).toBe(true);
    expect(usesClientSecret('client_secret_post')).toBe(true);
    expect(usesClientSecret('private_key_jwt')).toBe(false);
    expect(usesClientSecret('none')).toBe(false);
  });
});
