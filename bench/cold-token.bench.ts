/**
 * Cold token: `GET /profiles/{id}/token` through the real handler when the instance's cache does not hold
 * the profile's token (each broker serves each profile once, then a new broker takes over: a new Lambda
 * container), against a raw `GetItem` of the same item on the same dynalite.
 *
 * - Latency path: dynalite in its own process, the file vault (`FileVault`, the local-mode vault) in a
 *   temporary directory, requests one after another, interleaved rounds, medians.
 * - AWS calls: the same cache miss on brokers built by `createBroker` with aws-sdk-client-mock answering
 *   DynamoDB and Secrets Manager with the item and the token set dynalite and the vault hold.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, type GetCommandInput } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient, type GetSecretValueCommandInput } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbProfileStore, createTable } from '../lib/adapters/dynamodb-profile-store.js';
import { FileVault } from '../lib/adapters/file-vault.js';
import { Broker } from '../lib/broker.js';
import { createBroker } from '../lib/composition.js';
import { LoggedStatusEvents } from '../lib/events.js';
import { createLogger } from '../lib/logger.js';
import { PowertoolsMetrics, noMetrics, type BrokerMetrics } from '../lib/metrics.js';
import { systemClock, type ProfileStore, type SecretVault } from '../lib/ports.js';
import { createHandler } from '../lambdas/token.js';
import { apiGatewayEvent } from '../test/support/api-events.js';
import { CALLBACK_URL, benchSettings, profileIds, seedReadyProfiles } from './lib/fixtures.js';
import { QuietStdout, pairedRatio, atLeast, brokerAtMost, brokerExactly, info, interleave, median, progress, rateOver, row, runBenchmark, summary } from './lib/harness.js';
import { startDynaliteProcess } from './lib/processes.js';

const TABLE = 'bench-cold';

await runBenchmark(async (args) => {
  const rounds = args.rounds ?? (args.quick ? 3 : 11);
  const sliceMs = args.quick ? 200 : 300;
  const profileCount = args.quick ? 32 : 128;
  const quiet = new QuietStdout();
  const logger = createLogger();
  const events = new LoggedStatusEvents();

  progress(`cold-token: dynalite in its own process, file vault in a temporary directory, ${profileCount} profiles`);
  const db = await startDynaliteProcess();
  const vaultDir = await mkdtemp(path.join(tmpdir(), 'oauth-broker-bench-vault-'));
  try {
    await createTable(db.client, TABLE);
    const store = new DynamoDbProfileStore({ tableName: TABLE, client: db.doc });
    const vault = await FileVault.open({ dir: vaultDir });
    const brokerOn = (s: ProfileStore, v: SecretVault, metrics: BrokerMetrics = new PowertoolsMetrics()) =>
      new Broker({ store: s, vault: v, clock: systemClock, logger, events, metrics, callbackUrl: CALLBACK_URL });
    const ids = profileIds('cold', profileCount);
    quiet.start();
    const tokens = await seedReadyProfiles(brokerOn(store, vault, noMetrics), store, vault, ids);
    quiet.stop();

    // Reads through the ports, to check every measured request was a miss (one store read, one vault read).
    const reads = { store: 0, vault: 0 };
    const countingStore: ProfileStore = Object.create(store, {
      getProfile: { value: (id: string) => (reads.store++, store.getProfile(id)) },
    });
    const countingVault: SecretVault = Object.create(vault, {
      getTokenSet: { value: (id: string, version?: string) => (reads.vault++, vault.getTokenSet(id, version)) },
    });

    const requestEvents: APIGatewayProxyEvent[] = ids.map((id) =>
      apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id } }),
    );
    let brokerRequests = 0;
    let failures = 0;
    let handler = createHandler(() => brokerOn(countingStore, countingVault), logger);
    const coldRequest = async () => {
      const index = brokerRequests % profileCount;
      if (index === 0) {
        // A new container: fresh broker, empty cache; it will serve each profile once.
        const broker = brokerOn(countingStore, countingVault);
        handler = createHandler(() => broker, logger);
      }
      brokerRequests++;
      const response = await handler(requestEvents[index]!);
      if (response.statusCode !== 200) failures++;
    };
    let rawRequests = 0;
    const rawGetItem = async () => {
      const id = ids[rawRequests++ % profileCount]!;
      const out = await db.client.send(
        new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `PROFILE#${id}` }, sk: { S: 'PROFILE' } }, ConsistentRead: true }),
      );
      if (!out.Item) failures++;
    };

    progress(`cold-token: warm-up, then ${rounds} interleaved rounds of ${sliceMs} ms`);
    quiet.start();
    await interleave(args.quick ? 1 : 3, { raw: () => rateOver(rawGetItem, 300, 4), broker: () => rateOver(coldRequest, 300, 4) });
    brokerRequests = 0; // the next request starts a new broker
    reads.store = 0;
    reads.vault = 0;
    failures = 0;
    const samples = await interleave(rounds, {
      raw: () => rateOver(rawGetItem, sliceMs, 4),
      broker: () => rateOver(coldRequest, sliceMs, 4),
    });
    quiet.stop();
    const measuredRequests = brokerRequests;
    const readsPerRequest = { store: reads.store / measuredRequests, vault: reads.vault / measuredRequests };

    // --- AWS calls of one cache miss, counted with mocks answering what dynalite and the vault hold. ----
    progress('cold-token: counting AWS calls of a cache miss with aws-sdk-client-mock');
    const countIds = ids.slice(0, Math.min(32, ids.length));
    const items = new Map<string, Record<string, unknown>>();
    for (const id of countIds) {
      const record = await store.getProfile(id);
      const item = (await db.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `PROFILE#${id}`, sk: 'PROFILE' } }))).Item;
      if (!record || !item) throw new Error(`profile ${id} is missing`);
      items.set(`PROFILE#${id}`, item);
    }
    const settings = benchSettings(TABLE);
    const dynamo = mockClient(DynamoDBDocumentClient);
    const secrets = mockClient(SecretsManagerClient);
    const calls = { dynamoDbReads: 0, dynamoDbWrites: 0, dynamoDbOther: 0, secretReads: 0, secretWrites: 0, secretOther: 0 };
    const byCommand: Record<string, number> = {};
    try {
      dynamo.on(GetCommand).callsFake(async (input: GetCommandInput) => ({ Item: items.get(String(input.Key?.pk)) }));
      secrets.on(GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => {
        const id = String(input.SecretId).split('/').at(-2)!;
        return { SecretString: JSON.stringify(tokens.get(id)), VersionId: input.VersionId, Name: input.SecretId };
      });
      quiet.start();
      for (const id of countIds) {
        const broker = createBroker(settings, {
          dynamoDb: db.doc,
          secretsManager: new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } }),
          logger,
          events,
        });
        const response = await createHandler(() => broker, logger)(apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id } }));
        if (response.statusCode !== 200) throw new Error(`mocked cold request answered ${response.statusCode}: ${response.body}`);
      }
      quiet.stop();
      for (const call of dynamo.calls()) {
        const name = call.args[0]?.constructor.name ?? 'unknown';
        byCommand[`DynamoDB ${name}`] = (byCommand[`DynamoDB ${name}`] ?? 0) + 1;
        if (/^(Get|Query|Scan|BatchGet)/.test(name)) calls.dynamoDbReads++;
        else if (/^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(name)) calls.dynamoDbWrites++;
        else calls.dynamoDbOther++;
      }
      for (const call of secrets.calls()) {
        const name = call.args[0]?.constructor.name ?? 'unknown';
        byCommand[`SecretsManager ${name}`] = (byCommand[`SecretsManager ${name}`] ?? 0) + 1;
        if (/^(GetSecretValue|DescribeSecret|BatchGetSecretValue)/.test(name)) calls.secretReads++;
        else if (/^(PutSecretValue|CreateSecret|UpdateSecret)/.test(name)) calls.secretWrites++;
        else calls.secretOther++;
      }
    } finally {
      quiet.stop();
      dynamo.restore();
      secrets.restore();
    }
    const n = countIds.length;

    const raw = median(samples.raw);
    const cold = median(samples.broker);
    const rows = [
      row('requests/s: raw GetItem vs cold token request (dynalite + file vault)', 'req/s', raw, cold, atLeast(0.5), {
        note: 'derived target: one store read + one vault read ≈ two reads',
        ratio: pairedRatio(samples.raw, samples.broker),
      }),
      row('ms per request (raw GetItem vs cold token request)', 'ms', 1000 / raw, 1000 / cold, info),
      row('store reads per cold request (ports, dynalite run)', 'reads', null, readsPerRequest.store, brokerAtMost(1)),
      row('vault reads per cold request (ports, dynalite run)', 'reads', null, readsPerRequest.vault, brokerAtMost(1)),
      row('AWS calls per cold request: DynamoDB reads', 'calls', null, calls.dynamoDbReads / n, brokerAtMost(1)),
      row('AWS calls per cold request: DynamoDB writes', 'calls', null, (calls.dynamoDbWrites + calls.dynamoDbOther) / n, brokerExactly(0)),
      row('AWS calls per cold request: Secrets Manager reads', 'calls', null, calls.secretReads / n, brokerAtMost(1)),
      row('AWS calls per cold request: Secrets Manager writes', 'calls', null, (calls.secretWrites + calls.secretOther) / n, brokerExactly(0)),
    ];
    const notes: string[] = [];
    if (failures > 0) notes.push(`${failures} measured requests failed: the figures are not valid.`);
    if (pairedRatio(samples.raw, samples.broker) < 0.5) {
      notes.push(`A cache miss runs at ${pairedRatio(samples.raw, samples.broker).toFixed(2)}× a raw GetItem: more than the one store read and one vault read it should cost.`);
    }
    const usage = await db.usage();
    return {
      name: 'cold-token',
      title: 'Cold token: cache miss (dynalite + file vault) vs a raw GetItem on the same dynalite',
      setup: [
        `${rounds} interleaved rounds × ${sliceMs} ms after a warm-up, one request at a time, medians (ratio: median of per-round ratios); ${profileCount} profiles, each broker serves each profile once (${measuredRequests.toLocaleString('en-US')} measured cold requests).`,
        'dynalite runs in its own process; the file vault (FileVault) in a temporary directory; broker with real PowertoolsMetrics and logger (stdout swallowed).',
        `AWS calls: ${n} cold requests on fresh brokers from createBroker, aws-sdk-client-mock answering with dynalite's items and the vault's token sets: ${Object.entries(byCommand).map(([k, v]) => `${k} ×${v}`).join(', ')}.`,
      ],
      rows,
      notes,
      details: { samples: { raw: summary(samples.raw), broker: summary(samples.broker) }, readsPerRequest, calls, byCommand, dynalite: usage },
    };
  } finally {
    await db.stop();
    await rm(vaultDir, { recursive: true, force: true });
  }
});
