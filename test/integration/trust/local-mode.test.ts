/**
 * The trust rules in local mode (`npm start`, lib/local): the same handlers under the local URL policy
 * (loopback http: accepted for development, nothing else relaxed), driven over HTTP. Two loopback servers:
 * `real`, which issues tokens, and `attacker`; each test asserts what they RECEIVED.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { ENDLESS, issuingTokens, json, startHostileServer, type HostileServer } from '../../support/hostile-server.js';
import { captureLogs, type LogCapture } from '../../support/log-capture.js';
import { callJson, tempDataDir } from '../local/support.js';

const CLIENT_SECRET = 'local-trust-client-secret-0123456789';

let data: Awaited<ReturnType<typeof tempDataDir>>;
let local: LocalBroker;
let real: HostileServer;
let attacker: HostileServer;
let logs: LogCapture;
const clock = { offsetMs: 0 };
let counter = 0;

beforeAll(async () => {
  data = await tempDataDir();
  real = await startHostileServer();
  attacker = await startHostileServer();
  local = await startLocalBroker({ port: 0, dataDir: data.dir, demo: false, refreshOnStart: false, clock: () => Date.now() + clock.offsetMs });
});

afterAll(async () => {
  await local?.close();
  await Promise.allSettled([real?.close(), attacker?.close()]);
  await data?.remove();
});

beforeEach(() => {
  real.received.length = 0;
  attacker.received.length = 0;
  real.route('/token', issuingTokens(3600));
  logs = captureLogs();
  return () => logs.stop();
});

const api = <T = Record<string, unknown>>(method: string, route: string, body?: unknown) => callJson<T>(local.url, method, route, body);

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { authorizationUrl: real.url('/authorize'), tokenUrl: real.url('/token'), revocationUrl: real.url('/revoke'), clientId: 'local-trust', clientSecret: CLIENT_SECRET, ...overrides };
}

/** A profile authorized at `real` through authorize-url and the callback. */
async function authorizedProfile(label: string): Promise<string> {
  const id = `${label}-${++counter}`;
  expect((await api('PUT', `/profiles/${id}`, body())).status).toBe(201);
  const { json: started } = await api<{ authorizationUrl: string }>('GET', `/profiles/${id}/authorize-url`);
  const state = new URL(started.authorizationUrl).searchParams.get('state')!;
  const page = await fetch(`${local.callbackUrl}?${new URLSearchParams({ code: `code-${id}-0123456789`, state })}`);
  expect(page.status, await page.text()).toBe(200);
  return id;
}

describe('local mode keeps the trust rules', () => {
  it('accepts loopback http: (development) and private https: hosts, and still refuses http: anywhere else', async () => {
    expect((await api('PUT', `/profiles/loopback-${++counter}`, body())).status).toBe(201);
    expect((await api('PUT', `/profiles/lan-${++counter}`, body({ tokenUrl: 'https://10.0.0.5/token' }))).status).toBe(201);
    const refused = await api('PUT', `/profiles/lan-http-${++counter}`, body({ tokenUrl: 'http://10.0.0.5/token' }));
    expect(refused.status).toBe(400);
    expect(refused.json['message']).toMatch(/tokenUrl must use https: \(http: is accepted only for 127\.0\.0\.1, localhost or \[::1\]\)/);
  });

  it('an edit moving tokenUrl without the secret is refused; the token request and DELETE that follow reach only the real server', async () => {
    // Prepare
    const id = await authorizedProfile('local-exfil');
    const withoutSecret = body({ tokenUrl: attacker.url('/token') });
    delete withoutSecret['clientSecret'];

    // Act
    const put = await api('PUT', `/profiles/${id}`, withoutSecret);
    clock.offsetMs = 3_550_000;
    const token = await api('GET', `/profiles/${id}/token`);
    const deleted = await api('DELETE', `/profiles/${id}`);
    clock.offsetMs = 0;

    // Assess
    expect(put.status).toBe(400);
    expect(put.json['message']).toMatch(/clientSecret is required in the same request when tokenUrl moves to another origin/);
    expect(token.status).toBe(200);
    expect(deleted.status).toBe(204);
    expect(real.receivedAt('/token').map((r) => r.form.get('grant_type'))).toEqual(['authorization_code', 'refresh_token']);
    expect(real.receivedAt('/revoke')).toHaveLength(1);
    expect(attacker.received).toEqual([]);
  });

  it('a discovery document naming a file: authorization endpoint: authorize-url is 409 and never hands out the URL', async () => {
    // Prepare
    attacker.route('/.well-known/openid-configuration', json(200, { issuer: attacker.origin, authorization_endpoint: 'file:///tmp/setup.exe', token_endpoint: attacker.url('/token') }));
    const id = `local-file-${++counter}`;
    expect((await api('PUT', `/profiles/${id}`, { issuer: attacker.origin, clientId: 'c', clientSecret: CLIENT_SECRET })).status).toBe(201);

    // Act
    const answer = await api('GET', `/profiles/${id}/authorize-url`);

    // Assess
    expect(answer.status).toBe(409);
    expect(answer.json['error']).toBe('conflict');
    expect(JSON.stringify(answer.json)).not.toContain('setup.exe');
    expect(attacker.received.every((r) => r.method === 'GET' && r.url.startsWith('/.well-known/'))).toBe(true);
  });

  it('a token response that never ends: the token request answers 503 and the status says why; the connection is dropped', async () => {
    // Prepare
    const id = await authorizedProfile('local-endless');
    real.route('/token', ENDLESS);
    clock.offsetMs = 3_550_000;

    // Act
    const token = await api('GET', `/profiles/${id}/token`);
    const view = await api<ProfileView>('GET', `/profiles/${id}`);
    clock.offsetMs = 0;

    // Assess
    expect(token.status).toBe(503);
    expect(view.json.status.lastError).toMatchObject({ code: 'invalid_response', message: expect.stringMatching(/larger than 64 KiB/) });
    await expect.poll(() => real.streams.at(-1)?.closedByClient, { timeout: 5000 }).toBe(true);
  });

  it('a public client without PKCE is refused, and a callback error uses up its state', async () => {
    const refused = await api('PUT', `/profiles/public-${++counter}`, body({ clientAuthMethod: 'none', clientSecret: undefined, usePkce: false }));
    expect(refused.status).toBe(400);

    const id = `error-then-code-${++counter}`;
    expect((await api('PUT', `/profiles/${id}`, body())).status).toBe(201);
    const { json: started } = await api<{ authorizationUrl: string }>('GET', `/profiles/${id}/authorize-url`);
    const state = new URL(started.authorizationUrl).searchParams.get('state')!;
    const denied = await fetch(`${local.callbackUrl}?${new URLSearchParams({ error: 'access_denied', state })}`);
    const late = await fetch(`${local.callbackUrl}?${new URLSearchParams({ code: 'late-code-0123456789', state })}`);
    expect(denied.status).toBe(400);
    expect(late.status).toBe(400);
    expect(real.receivedAt('/token')).toEqual([]);
    const view = await api<ProfileView>('GET', `/profiles/${id}`);
    expect(view.json.status.lastError).toMatchObject({ code: 'access_denied' });
  });
});
