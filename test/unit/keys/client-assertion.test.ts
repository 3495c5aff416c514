/**
 * The `private_key_jwt` ClientAuth (RFC 7523 §2.2, §3): the audience chosen, the claims, the body
 * parameters oauth4webapi sends, and signer failures classified for the one error classifier.
 */
import { compactVerify, importJWK } from 'jose';
import type * as oauth from 'oauth4webapi';
import { describe, expect, it } from 'vitest';
import { assertionAudience, ASSERTION_LIFETIME_SECONDS, JWT_BEARER_ASSERTION_TYPE, privateKeyJwt } from '../../../lib/keys/client-assertion.js';
import { LocalSigner } from '../../../lib/keys/local-signer.js';
import { SigningError } from '../../../lib/keys/signer.js';
import { invalidRequest, temporarilyUnavailable } from '../../../lib/errors.js';
import { clientAuthentication, OAuthFailure, resolveAuthorizationServer } from '../../../lib/oauth.js';
import { profileConfig } from '../../support/profile-config.js';

const AS: oauth.AuthorizationServer = { issuer: 'https://as.example', token_endpoint: 'https://as.example/oauth2/token' };
const client: oauth.Client = { client_id: 'mes-erp' };
const NOW = Date.parse('2026-12-01T12:00:00Z');

async function authenticate(auth: oauth.ClientAuth, as = AS): Promise<URLSearchParams> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  await auth(as, client, body, new Headers());
  return body;
}

describe('assertionAudience', () => {
  it('is the issuer by default, the token endpoint when configured', () => {
    expect(assertionAudience(AS, {})).toBe('https://as.example');
    expect(assertionAudience(AS, { clientAssertionAudience: 'issuer' })).toBe('https://as.example');
    expect(assertionAudience(AS, { clientAssertionAudience: 'token_endpoint' })).toBe('https://as.example/oauth2/token');
  });

  it('is the token endpoint when the profile names no issuer', async () => {
    const as = await resolveAuthorizationServer(profileConfig({ issuer: null, tokenUrl: 'https://as.example/token' }), {});
    expect(assertionAudience(as, { clientAssertionAudience: 'issuer' })).toBe('https://as.example/token');
  });

  it('refuses when there is nothing to name', () => {
    expect(() => assertionAudience({ issuer: 'urn:oauth-broker:issuer-not-configured' }, {})).toThrow(OAuthFailure);
  });
});

describe('privateKeyJwt', () => {
  it('adds client_id, the assertion type and a signed assertion with the RFC 7523 claims', async () => {
    const signer = LocalSigner.generate('ES256');
    const auth = privateKeyJwt({ clientAssertionAudience: 'token_endpoint' }, { signer: async () => ({ signer, header: { x5t: 'abc' } }), now: () => NOW });
    const body = await authenticate(auth);
    expect(body.get('client_id')).toBe('mes-erp');
    expect(body.get('client_assertion_type')).toBe(JWT_BEARER_ASSERTION_TYPE);
    expect(body.get('client_secret')).toBeNull();
    const { payload, protectedHeader } = await compactVerify(body.get('client_assertion')!, await importJWK({ ...signer.publicJwk }, 'ES256'));
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: signer.kid, typ: 'JWT', x5t: 'abc' });
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    expect(claims).toEqual({
      iss: 'mes-erp',
      sub: 'mes-erp',
      aud: 'https://as.example/oauth2/token',
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      iat: NOW / 1000,
      exp: NOW / 1000 + ASSERTION_LIFETIME_SECONDS,
    });
    expect(ASSERTION_LIFETIME_SECONDS).toBeLessThanOrEqual(300);
  });

  it('makes a new jti for every request', async () => {
    const signer = LocalSigner.generate('ES256');
    const auth = privateKeyJwt({}, { signer: async () => ({ signer, header: {} }) });
    const jtis = new Set<unknown>();
    for (let i = 0; i < 20; i++) {
      const jwt = (await authenticate(auth)).get('client_assertion')!;
      jtis.add((JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: unknown }).jti);
    }
    expect(jtis.size).toBe(20);
  });

  it('a busy signer is a passing failure, an unusable key an error', async () => {
    const failing = (error: Error) => privateKeyJwt({}, { signer: async () => Promise.reject(error) });
    await expect(authenticate(failing(new SigningError('passing', 'KMS is busy')))).rejects.toMatchObject({ name: 'OAuthFailure', code: 'signing_failed', kind: 'passing' });
    await expect(authenticate(failing(new SigningError('error', 'The key is disabled')))).rejects.toMatchObject({
      name: 'OAuthFailure',
      code: 'signing_key_unusable',
      kind: 'error',
      message: 'The key is disabled',
    });
    // No key could be had: refused (400) is the profile's error; KMS unavailable (503) passes.
    await expect(authenticate(failing(invalidRequest('No RS256 signing key is configured')))).rejects.toMatchObject({ code: 'signing_key_unusable', kind: 'error' });
    await expect(authenticate(failing(temporarilyUnavailable('KMS is down', 5)))).rejects.toMatchObject({ code: 'signing_failed', kind: 'passing' });
  });
});

describe('an assertion only goes to its audience\'s server', () => {
  const signer = LocalSigner.generate('ES256');
  let signed = 0;
  const auth = (audience?: 'issuer' | 'token_endpoint') =>
    privateKeyJwt(audience ? { clientAssertionAudience: audience } : {}, {
      signer: async () => {
        signed++;
        return { signer, header: {} };
      },
    });

  it('refuses a token endpoint on another origin than the issuer (the audience), before signing', async () => {
    signed = 0;
    const moved = { issuer: 'https://as.example', token_endpoint: 'https://attacker.example/token' };
    await expect(authenticate(auth(), moved)).rejects.toMatchObject({ code: 'invalid_configuration', kind: 'error', message: expect.stringMatching(/^No client assertion was sent/) });
    expect(signed).toBe(0);
    // With the token endpoint as audience the assertion names the server it goes to.
    await expect(authenticate(auth('token_endpoint'), moved)).resolves.toBeInstanceOf(URLSearchParams);
  });

  it('refuses a revocation endpoint on another origin than the audience', async () => {
    const as = { ...AS, revocation_endpoint: 'https://attacker.example/revoke' };
    const revocation = new URLSearchParams({ token: 'a-token-to-revoke' });
    await expect(auth('token_endpoint')(as, client, revocation, new Headers())).rejects.toMatchObject({ code: 'invalid_configuration' });
    expect(revocation.get('client_assertion')).toBeNull();
    const same = new URLSearchParams({ token: 'a-token-to-revoke' });
    await auth()({ ...AS, revocation_endpoint: 'https://as.example/oauth2/revoke' }, client, same, new Headers());
    expect(same.get('client_assertion')).toBeTruthy();
  });
});

describe('clientAuthentication', () => {
  it('private_key_jwt without signing keys is a configuration error, never a request without credentials', () => {
    expect(() => clientAuthentication('private_key_jwt', undefined)).toThrow(/no signing keys configured/);
    let built = 0;
    const auth = clientAuthentication('private_key_jwt', undefined, () => {
      built++;
      return () => undefined;
    });
    expect(typeof auth).toBe('function');
    expect(built).toBe(1);
  });
});
