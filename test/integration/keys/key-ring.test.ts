/**
 * The key ring on dynalite (real conditional writes): instances racing to make the first key end with one
 * key; racing rotations, one wins and the other gets 409 with nothing changed; the ring item never shows
 * up among the profiles; withdrawals are swept and signalled.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTable, DynamoDbProfileStore } from '../../../lib/adapters/dynamodb-profile-store.js';
import { FileVault } from '../../../lib/adapters/file-vault.js';
import { BrokerError } from '../../../lib/errors.js';
import { DynamoDbKeyRingStore } from '../../../lib/keys/dynamodb-key-ring-store.js';
import { LoggedSigningKeyEvents } from '../../../lib/keys/events.js';
import { LocalKeyProvider } from '../../../lib/keys/key-providers.js';
import { MIN_PUBLISHED_BEFORE_PROMOTION_SECONDS, SigningKeys } from '../../../lib/keys/signing-keys.js';
import { createLogger } from '../../../lib/logger.js';
import { startDynalite, type RunningDynalite } from '../../support/dynalite.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';

let db: RunningDynalite;
let dir: string;
let table = 0;

beforeAll(async () => {
  db = await startDynalite();
  dir = await mkdtemp(path.join(tmpdir(), 'key-ring-'));
});
afterAll(async () => {
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Instance {
  keys: SigningKeys;
  events: LoggedSigningKeyEvents;
}

let tableName: string;
let vault: FileVault;
const clock = { now: Date.parse('2026-12-01T12:00:00Z') };

let logs: LogCapture;
afterEach(() => logs.stop());

beforeEach(async () => {
  logs = captureLogs();
  tableName = `keys-${++table}`;
  await createTable(db.client, tableName);
  vault = await FileVault.open({ dir: path.join(dir, tableName) });
  clock.now = Date.parse('2026-12-01T12:00:00Z');
});

/** One broker instance (a Lambda container) on the shared table and vault. */
function instance(): Instance {
  const events = new LoggedSigningKeyEvents();
  const keys = new SigningKeys({
    ring: new DynamoDbKeyRingStore({ tableName, client: db.doc }),
    provider: new LocalKeyProvider(vault),
    clock: () => clock.now,
    logger: createLogger(),
    events,
    jwksUri: 'http://127.0.0.1:8787/jwks',
  });
  return { keys, events };
}

/** The kids whose private keys the vault file holds. */
async function sealedKeys(): Promise<Record<string, string>> {
  return (JSON.parse(await readFile(vault.dataFile, 'utf8')) as { signingKeys?: Record<string, string> }).signingKeys ?? {};
}

describe('the key ring', () => {
  it('instances racing for the first key agree on one; the losers\' private keys are discarded', async () => {
    const instances = Array.from({ length: 4 }, instance);
    const made = await Promise.all(instances.map(({ keys }) => keys.ensureCurrent('ES256')));
    expect(new Set(made.map((key) => key.kid)).size).toBe(1);
    const ring = await new DynamoDbKeyRingStore({ tableName, client: db.doc }).get();
    expect(ring?.keys.map((key) => key.kid)).toEqual([made[0]!.kid]);
    expect((await instances[0]!.keys.jwks()).keys.map((key) => key.kid)).toEqual([made[0]!.kid]);
    expect(Object.keys(await sealedKeys())).toEqual([made[0]!.kid]);
    expect(instances.flatMap((i) => i.events.changes).map((c) => c.step)).toEqual(['published', 'promoted']);
  });

  it('racing rotations: one publishes, the other is refused with 409 and changes nothing', async () => {
    const [a, b] = [instance(), instance()];
    await a.keys.ensureCurrent('ES256');
    const results = await Promise.allSettled([a.keys.rotate({}), b.keys.rotate({})]);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toBeInstanceOf(BrokerError);
    expect(rejected[0]!.reason).toMatchObject({ code: 'conflict' });
    const ring = await a.keys.list();
    expect(ring.keys.map((key) => key.status).sort()).toEqual(['current', 'next']);
    expect(Object.keys(await sealedKeys()).sort()).toEqual(ring.keys.map((key) => key.kid).sort());
  });

  it('keeps the ring out of the profile listings', async () => {
    await instance().keys.ensureCurrent('ES256');
    const store = new DynamoDbProfileStore({ tableName, client: db.doc });
    expect(await store.listProfiles()).toEqual([]);
    expect(await store.listDueProfiles('2999-01-01T00:00:00.000Z')).toEqual([]);
  });

  it('per algorithm: an RS256 key beside the ES256 one, each rotated on its own', async () => {
    const { keys } = instance();
    const es = await keys.ensureCurrent('ES256');
    const rs = await keys.ensureCurrent('RS256');
    expect(rs.publicJwk.kty).toBe('RSA');
    await keys.rotate({ alg: 'RS256' });
    clock.now += MIN_PUBLISHED_BEFORE_PROMOTION_SECONDS * 1000;
    await keys.promote({ alg: 'RS256' });
    const ring = await keys.list();
    expect(ring.keys.find((key) => key.kid === es.kid)?.status).toBe('current');
    expect(ring.keys.find((key) => key.kid === rs.kid)?.status).toBe('retiring');
    expect(ring.keys.filter((key) => key.alg === 'RS256' && key.status === 'current')).toHaveLength(1);
  });

  it('a retiring key leaves the JWKS when its grace period ends; the next key operation records and signals it', async () => {
    const { keys, events } = instance();
    const old = await keys.ensureCurrent('ES256');
    await keys.rotate({});
    clock.now += MIN_PUBLISHED_BEFORE_PROMOTION_SECONDS * 1000;
    await keys.promote({ graceSeconds: 600 });
    expect((await keys.jwks()).keys.map((key) => key.kid)).toContain(old.kid);
    clock.now += 600 * 1000;
    expect((await keys.jwks()).keys.map((key) => key.kid)).not.toContain(old.kid);
    expect((await keys.list()).keys.find((key) => key.kid === old.kid)?.status).toBe('retiring');
    // A rotation sweeps first: the withdrawal is recorded and signalled, then the new next key published.
    await keys.rotate({});
    expect(events.changes.map((c) => `${c.step} ${c.kid === old.kid ? 'old' : 'other'}`)).toEqual([
      'published old',
      'promoted old',
      'published other',
      'promoted other',
      'retiring old',
      'withdrawn old',
      'published other',
    ]);
    expect(await vault.getSigningKey(old.kid)).toBeUndefined();
  });
});
