/**
 * Warm token: `GET /profiles/{id}/token` through the real handler (`lambdas/token.ts` `createHandler`) with
 * a broker whose per-instance cache holds the token, against a bare handler that returns fixed JSON.
 *
 * The broker is the one the Lambda builds (`createBroker`, real `PowertoolsMetrics` writing EMF lines to
 * stdout, real Powertools logger); stdout is swallowed while it runs, the writes still happen. AWS calls are
 * counted with aws-sdk-client-mock on `DynamoDBDocumentClient` and `SecretsManagerClient`: the mocks answer
 * with the item and the secret a real write produced (dynalite and the fake Secrets Manager, at setup).
 *
 * Diagnostic variants, measured in the same interleaved rounds, split the cost: the handler with no-op
 * metrics, and `broker.getToken` alone.
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbProfileStore, createTable } from '../lib/adapters/dynamodb-profile-store.js';
import { SecretsManagerVault } from '../lib/adapters/secrets-manager-vault.js';
import type { Broker } from '../lib/broker.js';
import { createBroker, type BrokerOverrides } from '../lib/composition.js';
import { LoggedStatusEvents } from '../lib/events.js';
import { createLogger, type HandlerContext } from '../lib/logger.js';
import { noMetrics } from '../lib/metrics.js';
import { createHandler } from '../lambdas/token.js';
import { apiGatewayEvent } from '../test/support/api-events.js';
import { startDynalite } from '../test/support/dynalite.js';
import { createFakeSecretsManager } from '../test/support/fake-secrets-manager.js';
import { benchSettings, seedReadyProfiles } from './lib/fixtures.js';
import { QuietStdout, pairedRatio, atLeast, brokerAtMost, brokerExactly, info, interleave, median, progress, rateOver, row, runBenchmark, summary } from './lib/harness.js';

const TABLE = 'bench-warm';
const PROFILE_ID = 'erp';

await runBenchmark(async (args) => {
  const rounds = args.rounds ?? (args.quick ? 5 : 15);
  const sliceMs = args.quick ? 100 : 200;
  const quiet = new QuietStdout();
  const logger = createLogger();
  const settings = benchSettings(TABLE);

  // --- Setup: a real profile item and token-set secret, as the broker writes them. ----------------------
  progress('warm-token: seeding a profile on dynalite and the fake Secrets Manager');
  const secrets = createFakeSecretsManager();
  const db = await startDynalite();
  await createTable(db.client, TABLE);
  const events = new LoggedStatusEvents();
  const seeder = createBroker(settings, { dynamoDb: db.doc, secretsManager: secrets.client, logger, events, metrics: noMetrics });
  const store = new DynamoDbProfileStore({ tableName: TABLE, client: db.doc });
  const vault = new SecretsManagerVault({ client: secrets.client, prefix: settings.secretPrefix });
  quiet.start();
  await seedReadyProfiles(seeder, store, vault, [PROFILE_ID]);
  quiet.stop();
  const item = (await db.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `PROFILE#${PROFILE_ID}`, sk: 'PROFILE' } }))).Item;
  if (!item) throw new Error('the seeded profile item is missing');
  await db.close();

  // --- From here every DynamoDB call is answered (and counted) by the mock. ------------------------------
  const dynamo = mockClient(DynamoDBDocumentClient);
  dynamo.on(GetCommand).resolves({ Item: item });
  const documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } }),
  );
  const overrides: BrokerOverrides = { dynamoDb: documentClient, secretsManager: secrets.client, logger, events };
  const withMetrics = createBroker(settings, overrides); // real PowertoolsMetrics, as in the Lambda
  const withoutMetrics = createBroker(settings, { ...overrides, metrics: noMetrics });

  const event: APIGatewayProxyEvent = apiGatewayEvent({ method: 'GET', resource: '/profiles/{id}/token', pathParameters: { id: PROFILE_ID } });
  // What Lambda passes every invocation: the handler ties its log lines to this request (logInvocation).
  const context: HandlerContext = {
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    functionName: 'oauth-broker-bench-token',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:oauth-broker-bench-token',
    memoryLimitInMB: '256',
    getRemainingTimeInMillis: () => 25_000,
  };
  const tokenHandler = createHandler(() => withMetrics, logger);
  const tokenHandlerNoMetrics = createHandler(() => withoutMetrics, logger);
  const fixed = {
    access_token: 'x'.repeat(43),
    token_type: 'Bearer',
    expires_at: '2026-11-28T10:00:00.000Z',
    expires_in: 3599,
    scope: 'openid offline_access api.read',
  };
  const bareHandler = async (_event: APIGatewayProxyEvent, _context?: HandlerContext): Promise<APIGatewayProxyResult> => ({
    statusCode: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    body: JSON.stringify(fixed),
  });

  // The same two handlers behind node:http on loopback (a keep-alive client in this process): what the
  // handler's cost is next to the smallest real request path.
  const bareServer = await listen(serveHandler(bareHandler, event, context));
  const brokerServer = await listen(serveHandler(tokenHandler, event, context));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const httpGet = (server: Server) =>
    new Promise<void>((resolve, reject) => {
      const { port } = server.address() as AddressInfo;
      const req = request({ host: '127.0.0.1', port, path: `/profiles/${PROFILE_ID}/token`, agent }, (res) => {
        if (res.statusCode !== 200) failures++;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });

  let failures = 0;
  const call = (handler: Handler) => async () => {
    const response = await handler(event, context);
    if (response.statusCode !== 200) failures++;
  };
  const getTokenOnly = (broker: Broker) => async () => {
    await broker.getToken(PROFILE_ID, 60);
  };

  quiet.start();
  try {
    dynamo.resetHistory();
    secrets.mock.resetHistory();
    // Prime both caches: one DynamoDB read and one Secrets Manager read each, before counting starts.
    for (const handler of [tokenHandler, tokenHandlerNoMetrics]) {
      const primed = await handler(event, context);
      if (primed.statusCode !== 200) throw new Error(`priming answered ${primed.statusCode}: ${primed.body}`);
    }
    const primingCalls = { dynamoDb: dynamo.calls().length, secretsManager: secrets.mock.calls().length };
    dynamo.resetHistory();
    secrets.mock.resetHistory();

    const variants = {
      bare: () => rateOver(call(bareHandler), sliceMs),
      handler: () => rateOver(call(tokenHandler), sliceMs),
      handlerNoMetrics: () => rateOver(call(tokenHandlerNoMetrics), sliceMs),
      getTokenNoMetrics: () => rateOver(getTokenOnly(withoutMetrics), sliceMs),
      httpBare: () => rateOver(() => httpGet(bareServer), sliceMs, 8),
      httpHandler: () => rateOver(() => httpGet(brokerServer), sliceMs, 8),
    };
    progress(`warm-token: warm-up, then ${rounds} interleaved rounds of ${sliceMs} ms per variant`);
    await interleave(1, variants);
    dynamo.resetHistory();
    secrets.mock.resetHistory();
    failures = 0;

    // Count the requests of the measured rounds exactly, for calls per request. The bare handler goes through
    // the same wrapper (its own count), so the in-process difference is the token handler's alone.
    const counts = { broker: 0, bare: 0 };
    const counting = (into: keyof typeof counts, fn: () => Promise<void>) => async () => {
      counts[into]++;
      await fn();
    };
    const measured = {
      ...variants,
      bare: () => rateOver(counting('bare', call(bareHandler)), sliceMs),
      handler: () => rateOver(counting('broker', call(tokenHandler)), sliceMs),
      handlerNoMetrics: () => rateOver(counting('broker', call(tokenHandlerNoMetrics)), sliceMs),
      getTokenNoMetrics: () => rateOver(counting('broker', getTokenOnly(withoutMetrics)), sliceMs),
    };
    const samples = await interleave(rounds, measured);
    const awsCalls = { dynamoDb: dynamo.calls().length, secretsManager: secrets.mock.calls().length };

    // EMF output of the real metrics object, per 1,000 requests.
    quiet.reset();
    const emfRequests = 10_000;
    for (let i = 0; i < emfRequests; i++) await tokenHandler(event, context);
    const emf = { bytes: quiet.bytes, lines: quiet.lines };
    quiet.stop();

    const rate = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v as number[])])) as Record<keyof typeof variants, number>;
    const us = (perSecond: number) => 1e6 / perSecond;
    const httpRatio = pairedRatio(samples.httpBare, samples.httpHandler);
    const costs = {
      bareUs: us(rate.bare),
      handlerUs: us(rate.handler),
      metricsUs: us(rate.handler) - us(rate.handlerNoMetrics),
      handlerAndJsonUs: us(rate.handlerNoMetrics) - us(rate.getTokenNoMetrics),
      getTokenUs: us(rate.getTokenNoMetrics),
    };

    const rows = [
      row('requests/s over loopback HTTP (node:http, keep-alive): bare handler vs token handler', 'req/s', rate.httpBare, rate.httpHandler, atLeast(0.9), {
        ratio: httpRatio,
      }),
      // What the token handler costs beyond calling any handler at all (the bare one's µs are the harness's await, the
      // event and a JSON.stringify, and vary with the machine's load).
      row('µs per request in-process the token handler adds to a bare handler (cached token, real metrics, Lambda context)', 'µs', null, costs.handlerUs - costs.bareUs, brokerAtMost(2)),
      row('µs per request in-process: bare handler vs token handler', 'µs', costs.bareUs, costs.handlerUs, info),
      row('requests/s in-process: bare handler vs token handler', 'req/s', rate.bare, rate.handler, info, {
        ratio: pairedRatio(samples.bare, samples.handler),
      }),
      row('AWS calls per warm request: DynamoDB', 'calls', null, awsCalls.dynamoDb / counts.broker, brokerExactly(0)),
      row('AWS calls per warm request: Secrets Manager', 'calls', null, awsCalls.secretsManager / counts.broker, brokerExactly(0)),
      row('diagnostic: token handler with no-op metrics', 'req/s', rate.bare, rate.handlerNoMetrics, info),
      row('diagnostic: broker.getToken alone, no-op metrics', 'req/s', rate.bare, rate.getTokenNoMetrics, info),
      row('  of which PowertoolsMetrics (tokenServed + auto-flush)', 'µs/req', null, costs.metricsUs, info),
      row('  of which handler: respond/json/minValidity parsing', 'µs/req', null, costs.handlerAndJsonUs, info),
      row('  of which getToken on a cache hit', 'µs/req', null, costs.getTokenUs, info),
      row('EMF metric lines written per 1,000 requests', 'lines', null, (emf.lines / emfRequests) * 1000, info),
      row('EMF bytes written per 1,000 requests', 'bytes', null, (emf.bytes / emfRequests) * 1000, info),
    ];
    const notes: string[] = [];
    if (failures > 0) notes.push(`${failures} measured requests did not answer 200: the figures are not valid.`);
    if (httpRatio < 0.9 || costs.handlerUs - costs.bareUs > 2) {
      notes.push(
        `Target missed: over loopback HTTP the token handler serves ${httpRatio.toFixed(2)}× the bare handler's requests, and costs ` +
          `${(costs.handlerUs - costs.bareUs).toFixed(2)} µs per request in-process more than the bare handler (${costs.handlerUs.toFixed(2)} against ${costs.bareUs.toFixed(2)} µs). Of that, PowertoolsMetrics.tokenServed takes ` +
          `${costs.metricsUs.toFixed(2)} µs, the handler (log context, respond/json/parsing) ${costs.handlerAndJsonUs.toFixed(2)} µs, ` +
          `getToken's cache hit ${costs.getTokenUs.toFixed(2)} µs.`,
      );
    }
    return {
      name: 'warm-token',
      title: 'Warm token: token handler with a cached token vs a bare handler returning fixed JSON',
      setup: [
        `${rounds} interleaved rounds × ${sliceMs} ms per variant after a warm-up, sequential awaited calls, medians (ratio: median of per-round ratios); Node ${process.version}, in-process.`,
        'Broker built by createBroker as in the Lambda (real PowertoolsMetrics and Powertools logger; stdout swallowed while measuring).',
        `AWS calls counted with aws-sdk-client-mock over ${counts.broker.toLocaleString('en-US')} measured requests (priming made ${primingCalls.dynamoDb} DynamoDB and ${primingCalls.secretsManager} Secrets Manager calls, not counted).`,
      ],
      rows,
      notes,
      details: { samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v as number[])])), awsCalls, counted: counts.broker, emf, costs, failures },
    };
  } finally {
    quiet.stop();
    agent.destroy();
    bareServer.closeAllConnections();
    brokerServer.closeAllConnections();
    bareServer.close();
    brokerServer.close();
    dynamo.restore();
    secrets.restore();
  }
});

type Handler = (event: APIGatewayProxyEvent, context?: HandlerContext) => Promise<APIGatewayProxyResult>;

function serveHandler(handler: Handler, event: APIGatewayProxyEvent, context: HandlerContext): Server {
  return createServer((req, res) => {
    req.resume();
    void handler(event, context).then((response) => {
      res.writeHead(response.statusCode, response.headers as Record<string, string>);
      res.end(response.body);
    });
  });
}

function listen(server: Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
