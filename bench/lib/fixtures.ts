/**
 * Profiles for the token benchmarks: registered through the broker (so the stored item is exactly what
 * the broker writes) and given a token set the way a completed authorization leaves it (vault first, then
 * the status pointing at the vault version). No authorization server is needed: these profiles are only
 * read.
 */
import type { BrokerSettings } from '../../lib/composition.js';
import { randomBytes } from 'node:crypto';
import type { Broker } from '../../lib/broker.js';
import type { ProfileStore, SecretVault, TokenSet } from '../../lib/ports.js';
import { authorizedStatus } from '../../lib/lifecycle/transitions.js';
import { refreshPolicy } from '../../lib/lifecycle/timing.js';
import { pool } from './harness.js';

export const CALLBACK_URL = 'https://broker.bench.test/callback';

/** The settings the benchmarks' brokers run with: the Lambda's, on a table of their own. */
export function benchSettings(tableName: string): BrokerSettings {
  return { tableName, secretPrefix: 'oauth-broker/bench', kmsKeyId: undefined, callbackUrl: CALLBACK_URL, eventBusName: 'default', refresh: {} };
}

export function profileBody(clientSecret = `secret-${randomBytes(12).toString('base64url')}`): string {
  return JSON.stringify({
    authorizationUrl: 'https://as.bench.test/authorize',
    tokenUrl: 'https://as.bench.test/token',
    clientId: 'bench-client',
    clientSecret,
    scope: 'openid offline_access api.read',
  });
}

/** A token set like an authorization server's: opaque tokens of realistic length. */
export function tokenSet(now: number, lifetimeSeconds = 3600): TokenSet {
  return {
    accessToken: randomBytes(32).toString('base64url'),
    tokenType: 'Bearer',
    expiresAt: new Date(now + lifetimeSeconds * 1000).toISOString(),
    refreshToken: randomBytes(32).toString('base64url'),
    scope: 'openid offline_access api.read',
    obtainedAt: new Date(now).toISOString(),
  };
}

/** Registers `ids` through `broker` and gives each a fresh token set; returns the token sets by id. */
export async function seedReadyProfiles(
  broker: Broker,
  store: ProfileStore,
  vault: SecretVault,
  ids: readonly string[],
  now: number = Date.now(),
  concurrency = 8,
): Promise<Map<string, TokenSet>> {
  const tokens = new Map<string, TokenSet>();
  await pool(ids, concurrency, async (id) => {
    await broker.putProfile(id, profileBody());
    const set = tokenSet(now);
    const version = await vault.putTokenSet(id, set);
    const record = await store.getProfile(id);
    if (!record) throw new Error(`profile ${id} was not stored`);
    await store.updateStatus(
      id,
      { status: authorizedStatus(record, set, { now, policy: refreshPolicy() }), tokenVersion: version, stagedTokens: null },
      { now: new Date(now).toISOString(), fence: 'break' },
    );
    tokens.set(id, set);
  });
  return tokens;
}

export function profileIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
}
