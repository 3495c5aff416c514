/**
 * `oauth-broker console` against a broker that requires signatures: the CLI command, run
 * in-process, serves the console on loopback and forwards its calls through a SigV4-verifying gateway
 * (tests' stand-in for API Gateway's AWS_IAM) to local mode. Credentials are fixed fake ones in the
 * environment, found by the AWS SDK's default chain. In Chromium: the list, a profile created through
 * the form, Authorize with consent and the ✓; a route IAM denies shows "Not allowed". The console
 * server refuses foreign Hosts and Origins and forwards nothing for them.
 */
import { Readable } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../lib/cli/main.js';
import { launchChromium } from '../../support/consent.js';
import { useLocalAndOidc } from '../../support/local-and-oidc.js';
import { rawRequest } from '../../integration/local/support.js';
import { startSigV4Gateway, type SigV4Gateway } from './sigv4-gateway.js';
import { authorizeInPopup, clickConfirming, consoleContext, EVENTUALLY, fillProfileForm, scenarioProfileFields, statusCell } from './support.js';

const PUBLIC_URL = 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod';
const CREDENTIALS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const scenario = useLocalAndOidc('signed');
const { profileId: PROFILE_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = scenario.client;

let gateway: SigV4Gateway;
let browser: Browser;
let page: Page;
let consoleUrl: string;
let stop: () => void;
let running: Promise<number>;
let stdout = '';
let stderr = '';

beforeAll(async () => {
  // The default credential chain finds these first (environment), and nothing else is asked.
  vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', '');
  vi.stubEnv('AWS_PROFILE', '');
  gateway = await startSigV4Gateway({
    publicUrl: PUBLIC_URL,
    region: 'eu-west-1',
    credentials: CREDENTIALS,
    upstream: scenario.local.url,
    deny: (method) => method === 'DELETE',
  });

  const stopped = new Promise<void>((resolve) => (stop = resolve));
  running = main(['console', '--url', PUBLIC_URL, '--port', '0'], {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([]),
    env: {},
    fetch: gateway.fetch,
    isTTY: false,
    openUrl: () => false,
    untilStopped: () => stopped,
  });
  await vi.waitFor(
    () => {
      const match = /on (http:\/\/127\.0\.0\.1:\d+\/console)\n/.exec(stdout);
      if (!match || !stdout.includes('Press Ctrl-C')) throw new Error(`not started yet: ${stdout} ${stderr}`);
      consoleUrl = match[1]!;
    },
    { timeout: 20_000, interval: 50 },
  );
  browser = await launchChromium();
  const context = await consoleContext(browser, new URL(consoleUrl).origin);
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  stop?.();
  await running;
  await browser?.close();
  await gateway?.close();
  vi.unstubAllEnvs();
}, 60_000);

const forwardedSince = (count: number) => gateway.records.slice(count);

describe('oauth-broker console against a broker that requires signatures', () => {
  it('starts on loopback and checks its access with one signed call', () => {
    expect(consoleUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console$/);
    expect(stdout).toContain(`oauth-broker console for ${PUBLIC_URL} on ${consoleUrl}`);
    expect(stdout).toContain('✓ Connected: 0 profiles.');
    expect(gateway.records[0]).toEqual({ method: 'GET', path: '/prod/profiles', verdict: 'forwarded', accessKeyId: CREDENTIALS.accessKeyId });
  });

  it('the gateway checks signatures: unsigned and tampered requests are refused', async () => {
    const unsigned = await gateway.fetch(`${PUBLIC_URL}/profiles`);
    expect(unsigned.status).toBe(403);
    const stolen = await gateway.fetch(`${PUBLIC_URL}/profiles`, {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20260101/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
        'x-amz-date': '20260101T000000Z',
      },
    });
    expect(stolen.status).toBe(403);
    expect(gateway.records.slice(-2).map((record) => record.verdict)).toEqual(['unsigned', 'bad_signature']);
  });

  it('creates a profile through the same form, authorizes it in the opened window and shows the ✓', async () => {
    const before = gateway.records.length;
    await page.goto(consoleUrl);
    await expect.poll(() => page.locator('#environment').innerText(), EVENTUALLY).toContain(`AWS · ${PUBLIC_URL}`);
    await page.getByRole('button', { name: 'New profile', exact: true }).click();
    await fillProfileForm(page, scenarioProfileFields(scenario, 'openid'));
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toContain(`Created profile “${PROFILE_ID}”`);
    expect((await scenario.local.broker.getProfile(PROFILE_ID)).clientId).toBe(CLIENT_ID);

    await authorizeInPopup(page, scenario.server.issuer, scenario.local.callbackUrl);
    await expect.poll(() => statusCell(page, PROFILE_ID).innerText(), EVENTUALLY).toBe('✓');

    // Everything the console did reached the API signed with the operator's credentials, under the stage.
    const calls = forwardedSince(before);
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual(
      expect.arrayContaining(['GET /prod/profiles', `PUT /prod/profiles/${PROFILE_ID}`, `GET /prod/profiles/${PROFILE_ID}/authorize-url`]),
    );
    for (const call of calls) expect(call).toMatchObject({ verdict: 'forwarded', accessKeyId: CREDENTIALS.accessKeyId });
  });

  it('shows "Not allowed" for what IAM denies, and the profile stays', async () => {
    await clickConfirming(page, 'Delete', true);
    await expect.poll(() => page.locator('#action-message').innerText(), EVENTUALLY).toMatch(/^Not allowed: your AWS identity may not call DELETE \/profiles\/signed-erp/);
    expect(gateway.records.filter((record) => record.method === 'DELETE')).toEqual([
      { method: 'DELETE', path: `/prod/profiles/${PROFILE_ID}`, verdict: 'denied', accessKeyId: CREDENTIALS.accessKeyId },
    ]);
    expect((await scenario.local.broker.getProfile(PROFILE_ID)).id).toBe(PROFILE_ID);
  });

  it('refuses a foreign Host or Origin, and calls from other sites, forwarding nothing', async () => {
    // The page polls the list: it is closed first, so that every request counted below is one of these.
    await page.goto('about:blank');
    const origin = new URL(consoleUrl).origin;
    const before = gateway.records.length;
    const refused = [
      await rawRequest(`${origin}/profiles`, { headers: { Host: 'attacker.example' } }),
      await rawRequest(`${origin}/console`, { headers: { Host: `rebound.example:${new URL(origin).port}` } }),
      await rawRequest(`${origin}/profiles`, { headers: { Origin: 'http://attacker.example' } }),
      await rawRequest(`${origin}/profiles/${PROFILE_ID}`, { method: 'DELETE', headers: { Origin: 'http://127.0.0.1:1' } }),
      await rawRequest(`${origin}/profiles/${PROFILE_ID}/authorize-url`, { headers: { 'Sec-Fetch-Site': 'cross-site' } }),
      await rawRequest(`${origin}/profiles/${PROFILE_ID}`, {
        method: 'PUT',
        headers: { Origin: 'null', 'content-type': 'application/json' },
        body: JSON.stringify({ tokenUrl: 'https://attacker.example/token', clientId: 'x', clientSecret: 'y' }),
      }),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request' });
    }
    // The console never needs a token: that route is not forwarded at all.
    expect((await rawRequest(`${origin}/profiles/${PROFILE_ID}/token`)).status).toBe(404);
    // One call of the console's own kind is forwarded; it is the only thing that reached the API (but for
    // a list read the closed page may have had in flight).
    expect((await rawRequest(`${origin}/profiles/${PROFILE_ID}`, { headers: { 'Sec-Fetch-Site': 'same-origin' } })).status).toBe(200);
    const reached = gateway.records.slice(before).filter((record) => !(record.method === 'GET' && record.path === '/prod/profiles'));
    expect(reached.map((record) => `${record.method} ${record.path} ${record.verdict}`)).toEqual([`GET /prod/profiles/${PROFILE_ID} forwarded`]);
    expect((await scenario.local.broker.getProfile(PROFILE_ID)).tokenUrl).toBe(scenario.server.tokenEndpoint);
  });

  it('stops cleanly and never printed the client secret', async () => {
    stop();
    expect(await running).toBe(0);
    expect(`${stdout}${stderr}`).not.toContain(CLIENT_SECRET);
    await expect(fetch(consoleUrl)).rejects.toThrow();
  });
});
