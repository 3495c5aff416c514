/**
 * The scheduled refresh handler: its workers and its write budget, read from the environment. Time is
 * the test's clock: the budget's waits move it, nothing sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../../lambdas/refresh.js';
import type { Broker } from '../../../lib/broker.js';
import { TestClock, brokerOn, captureLogger, jsonResponse, profileBody, scriptedTokenEndpoint, useAwsMocks, type ScriptedTokenEndpoint } from '../support/harness.js';

const aws = useAwsMocks();
let clock: TestClock;
let endpoint: ScriptedTokenEndpoint;
let broker: Broker;
/** The test clock at each grant the token endpoint received. */
let grantTimes: number[];
const saved = { ...process.env };

beforeEach(async () => {
  clock = new TestClock();
  endpoint = scriptedTokenEndpoint();
  grantTimes = [];
  let n = 0;
  endpoint.answer(() => {
    grantTimes.push(clock.now);
    return jsonResponse({ access_token: `at-${++n}`, token_type: 'Bearer', expires_in: 3600 });
  });
  broker = brokerOn(aws, { logger: captureLogger().logger, clock, fetch: endpoint.fetch });
  // Client-credentials profiles are due as soon as they exist.
  for (let i = 0; i < 6; i++) {
    await broker.putProfile(`m2m-${i}`, JSON.stringify(profileBody({ grantType: 'client_credentials', authorizationUrl: undefined })));
  }
});

afterEach(() => {
  process.env = { ...saved };
});

describe('the refresh job\'s write budget', () => {
  it.each([
    ['refreshes at most BROKER_REFRESH_WRITES_PER_SECOND a second after a one-second burst', { BROKER_REFRESH_WRITES_PER_SECOND: '2', BROKER_REFRESH_CONCURRENCY: '1' }, [0, 0, 500, 1000, 1500, 2000]],
    ['defaults to 10 a second: six due profiles go at once, with as many workers as set', { BROKER_REFRESH_CONCURRENCY: '3' }, [0, 0, 0, 0, 0, 0]],
  ])('%s', async (_, settings, offsets) => {
    Object.assign(process.env, settings);
    const start = clock.now;

    const summary = await createHandler(() => broker, captureLogger().logger)({});

    expect(summary.outcomes).toEqual({ refreshed: 6 });
    expect(grantTimes.map((at) => at - start)).toEqual(offsets);
  });

  it('stops taking profiles whose turn would come after the function\'s time', async () => {
    process.env.BROKER_REFRESH_WRITES_PER_SECOND = '1';
    process.env.BROKER_REFRESH_CONCURRENCY = '1';

    // 2.5 s left after the handler's 2 s margin: turns at 0, 1 and 2 s fit, the fourth would not. (None of
    // them has the time a grant needs either, so none is started.)
    const summary = await createHandler(() => broker, captureLogger().logger)({}, { getRemainingTimeInMillis: () => 2_000 + 2_500 });

    expect(summary).toMatchObject({ due: 6, attempted: 3, outcomes: { no_time: 3 } });
    expect(grantTimes).toEqual([]);
  });
});
