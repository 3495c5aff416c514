/**
 * `GET /jwks` (docs/api.md): public keys only, cacheable for five minutes; an empty set from a broker
 * without signing keys; other methods refused.
 */
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../lambdas/jwks.js';
import { Broker } from '../../../lib/broker.js';
import type { ProfileStore, SecretVault } from '../../../lib/ports.js';
import { EMPTY_RING, type KeyRingStore, type RingKey } from '../../../lib/keys/key-ring.js';
import { LocalKeyProvider } from '../../../lib/keys/key-providers.js';
import { LocalSigner } from '../../../lib/keys/local-signer.js';
import { SigningKeys } from '../../../lib/keys/signing-keys.js';
import { apiEvent } from '../support/events.js';
import { captureLogger } from '../support/harness.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');

function brokerWith(keys: RingKey[] | undefined): Broker {
  const { logger } = captureLogger();
  const ring: KeyRingStore = { get: async () => (keys ? { keys, revision: 1 } : EMPTY_RING), put: async () => Promise.reject(new Error('read only')) };
  return new Broker({
    store: {} as ProfileStore,
    vault: {} as SecretVault,
    clock: () => NOW,
    logger,
    callbackUrl: 'https://api.example/prod/callback',
    ...(keys
      ? {
          signingKeys: new SigningKeys({
            ring,
            provider: new LocalKeyProvider({ putSigningKey: async () => undefined, getSigningKey: async () => undefined, deleteSigningKey: async () => undefined }),
            clock: () => NOW,
            logger,
            jwksUri: 'https://api.example/prod/jwks',
          }),
        }
      : {}),
  });
}

function ringKey(status: RingKey['status'], withdrawAt: string | null = null): RingKey {
  const signer = LocalSigner.generate('ES256');
  return { kid: signer.kid, alg: 'ES256', status, source: { kind: 'local' }, publicJwk: signer.publicJwk, certificate: '', publishedAt: '2026-12-01T00:00:00Z', promotedAt: null, retiredAt: null, withdrawAt };
}

describe('GET /jwks', () => {
  it('lists next, current and retiring keys within their grace period, public members only, cacheable', async () => {
    const keys = [ringKey('current'), ringKey('next'), ringKey('retiring', '2026-12-01T13:00:00Z'), ringKey('retiring', '2026-12-01T11:00:00Z'), ringKey('withdrawn')];
    const answer = await createHandler(() => brokerWith(keys))(apiEvent({ method: 'GET', resource: '/jwks' }));
    expect(answer.statusCode).toBe(200);
    expect(answer.headers).toMatchObject({ 'Cache-Control': 'public, max-age=300', 'Content-Type': 'application/json; charset=utf-8' });
    const set = JSON.parse(answer.body) as { keys: Record<string, unknown>[] };
    expect(set.keys.map((key) => key.kid)).toEqual(keys.slice(0, 3).map((key) => key.kid));
    for (const key of set.keys) expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it('is an empty set when the broker has no signing keys', async () => {
    const answer = await createHandler(() => brokerWith(undefined))(apiEvent({ method: 'GET', resource: '/jwks' }));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ keys: [] });
  });

  it('refuses other methods with the contract\'s error', async () => {
    const answer = await createHandler(() => brokerWith([]))(apiEvent({ method: 'POST', resource: '/jwks' }));
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request' });
  });
});
