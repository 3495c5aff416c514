/**
 * The callback page's way back to the console: a link when a console URL is configured (local
 * mode: `/console`), none otherwise (the cloud page stays as it was), escaped like everything on it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../../lambdas/callback.js';
import type { Broker } from '../../../lib/broker.js';
import { apiEvent } from '../support/events.js';
import { TestClock, brokerOn, captureLogger, useAwsMocks } from '../support/harness.js';

const aws = useAwsMocks();
let broker: Broker;

beforeEach(() => {
  broker = brokerOn(aws, { logger: captureLogger().logger, clock: new TestClock() });
});

const refused = (consoleUrl?: string) =>
  createHandler(() => broker, captureLogger().logger, consoleUrl === undefined ? {} : { consoleUrl })(
    apiEvent({ method: 'GET', resource: '/callback', query: { code: 'c', state: 'unknown-state' } }),
  );

describe('the callback page and the console', () => {
  it('links back to the console when one is configured', async () => {
    const page = await refused('/console');
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('<p><a href="/console">Back to the console</a></p>');
  });

  it('has no link without a console URL', async () => {
    const page = await refused();
    expect(page.statusCode).toBe(400);
    expect(page.body).not.toContain('<a ');
  });

  it('escapes the configured URL', async () => {
    const page = await refused('http://127.0.0.1:8789/console?a="><script>');
    expect(page.body).toContain('href="http://127.0.0.1:8789/console?a=&quot;&gt;&lt;script&gt;"');
    expect(page.body).not.toContain('<script>');
  });
});
