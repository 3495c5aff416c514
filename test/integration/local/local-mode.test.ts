/**
 * Local mode in-process (what `npm start` runs), demo off, against a real oidc-provider configured by the
 * test: the contract over HTTP through the real Lambda handlers, consent landing on the local /callback,
 * the refresh job, and a restart on the same data directory that keeps profiles and tokens.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { startOidcServer, type OidcServer } from '../../support/oidc-server.js';
import { callJson, filesUnder, rawRequest, tempDataDir } from './support.js';

const CLIENT_ID = 'local-mode-client';
const CLIENT_SECRET = `local-secret-${randomBytes(12).toString('base64url')}`;
const SCOPE = 'openid offline_access';
const TOKEN_TTL_SECONDS = 3600;

let data: Awaited<ReturnType<typeof tempDataDir>>;
let local: LocalBroker;
let server: OidcServer;
const printed: string[] = [];
/** The broker's clock is `Date.now() + offsetMs`: tests move it instead of waiting. */
const clock = { offsetMs: 0 };

const start = (port: number) =>
  startLocalBroker({
    port,
    dataDir: data.dir,
    demo: false,
    refreshIntervalSeconds: 60,
    refreshOnStart: false,
    print: (line) => printed.push(line),
    clock: () => Date.now() + clock.offsetMs,
  });

beforeAll(async () => {
  data = await tempDataDir();
  local = await start(0);
  // The authorization server needs the broker's callback URL, which names the port picked above.
  server = await startOidcServer({
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, authMethod: 'client_secret_basic', redirectUris: [local.callbackUrl] }],
    accessTokenTtlSeconds: TOKEN_TTL_SECONDS,
  });
});

afterAll(async () => {
  await local?.close();
  await server?.close();
  await data?.remove();
});

const api = <T = unknown>(method: string, route: string, body?: unknown) => callJson<T>(local.url, method, route, body);

function profileBody(extra: Record<string, unknown> = {}) {
  return { issuer: server.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scope: SCOPE, authorizationParams: { prompt: 'consent' }, ...extra };
}

/** authorize-url over HTTP → consent at the server → the browser's redirect delivered to the local /callback. */
async function authorize(id: string): Promise<Response> {
  const { status, json } = await api<{ authorizationUrl: string; callbackUrl: string }>('GET', `/profiles/${id}/authorize-url`);
  expect(status).toBe(200);
  expect(json.callbackUrl).toBe(local.callbackUrl);
  let callback: Response | undefined;
  await completeConsentProgrammatically(json.authorizationUrl, {
    followRedirectTo: async (url) => (callback = await fetch(url, { redirect: 'manual' })),
  });
  return callback!;
}

describe('local mode, in-process, demo off', () => {
  it('listens on loopback and names its callback URL after its port', () => {
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(local.port).toBeGreaterThan(0);
    expect(local.callbackUrl).toBe(`${local.url}/callback`);
    expect(local.demo).toBeUndefined();
  });

  it('creates, reads, lists and replaces a profile over HTTP', async () => {
    const created = await api<ProfileView>('PUT', '/profiles/erp', profileBody());
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'erp', issuer: server.issuer, clientId: CLIENT_ID, hasClientSecret: true, callbackUrl: local.callbackUrl });
    expect(created.json.status.state).toBe('authorization_required');
    expect(JSON.stringify(created.json)).not.toContain(CLIENT_SECRET);

    const read = await api<ProfileView>('GET', '/profiles/erp');
    expect(read.status).toBe(200);
    expect(read.json).toEqual(created.json);

    const list = await api<{ profiles: ProfileView[] }>('GET', '/profiles');
    expect(list.json.profiles.map((p) => p.id)).toContain('erp');

    // Replacing without clientSecret keeps the stored one.
    const { clientSecret: _omitted, ...withoutSecret } = profileBody({ tokenParams: { audience: 'mes' } });
    const replaced = await api<ProfileView>('PUT', '/profiles/erp', withoutSecret);
    expect(replaced.status).toBe(200);
    expect(replaced.json.hasClientSecret).toBe(true);
    expect(replaced.json.tokenParams).toEqual({ audience: 'mes' });
    expect((await api('PUT', '/profiles/erp', profileBody())).status).toBe(200);
  });

  it('authorizes through the local /callback: the profile becomes ready and serves a token', async () => {
    const callback = await authorize('erp');
    expect(callback.status).toBe(200);
    expect(callback.headers.get('content-type')).toMatch(/^text\/html/);
    expect(callback.headers.get('cache-control')).toBe('no-store');
    expect(callback.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await callback.text()).toContain('Profile &quot;erp&quot; is authorized');

    const view = await api<ProfileView>('GET', '/profiles/erp');
    expect(view.json.status.state).toBe('ready');
    expect(view.json.status.hasRefreshToken).toBe(true);
    expect(printed).toContain('✓ profile "erp": authorization_required → ready');
    expect(local.statusChanges.at(-1)).toMatchObject({ profileId: 'erp', from: 'authorization_required', to: 'ready' });

    const token = await api<{ access_token: string; token_type: string; expires_in: number; scope: string }>('GET', '/profiles/erp/token?minValiditySeconds=120');
    expect(token.status).toBe(200);
    expect(token.headers.get('cache-control')).toBe('no-store');
    expect(token.json.token_type).toBe('Bearer');
    expect(token.json.expires_in).toBeGreaterThan(TOKEN_TTL_SECONDS - 60);
    expect(await server.introspect(token.json.access_token)).toBe(true);
    expect(JSON.stringify(token.json)).not.toMatch(/refresh_token|id_token/);
  });

  it('keeps secrets only in the encrypted vault: no file under the data directory holds one in clear', async () => {
    const token = await api<{ access_token: string }>('GET', '/profiles/erp/token');
    const files = await filesUnder(data.dir);
    expect(files.some((f) => f.file.endsWith('vault.json'))).toBe(true);
    expect(files.some((f) => f.file.includes('dynamodb'))).toBe(true);
    for (const { file, content } of files) {
      for (const secret of [CLIENT_SECRET, token.json.access_token]) {
        expect(content.includes(secret), `${file} holds a secret in clear`).toBe(false);
      }
    }
  });

  it('maps the query string, path parameters and errors the way API Gateway does', async () => {
    const bad = await api<{ error: string; message: string }>('GET', '/profiles/erp/token?minValiditySeconds=abc');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_request');

    const missing = await api<{ error: string }>('GET', '/profiles/nope');
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('not_found');

    const badId = await api<{ error: string }>('GET', `/profiles/${encodeURIComponent('Not Valid')}`);
    expect(badId.status).toBe(400);
    expect(badId.json.error).toBe('invalid_request');

    const noState = await fetch(`${local.url}/callback?code=abc`);
    expect(noState.status).toBe(400);
    expect(noState.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await noState.text()).toContain('no &quot;state&quot; parameter');
  });

  it('answers unknown routes 404 not_found and known paths with another method 400 invalid_request', async () => {
    const unknown = await api<{ error: string; message: string }>('GET', '/nothing/here');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe('not_found');
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);

    const wrongMethod = await api<{ error: string; message: string }>('POST', '/profiles/erp/token');
    expect(wrongMethod.status).toBe(400);
    expect(wrongMethod.json.error).toBe('invalid_request');
    expect(wrongMethod.headers.get('allow')).toBe('GET');

    const patch = await api<{ error: string }>('PATCH', '/profiles/erp', { scope: 'x' });
    expect(patch.status).toBe(400);
    expect(patch.headers.get('allow')).toBe('GET, PUT, DELETE');
  });

  it('refuses bodies over the contract limit, and very large ones without reading them', async () => {
    // Over 16 KiB: the broker's own validation answers.
    const over = await api<{ error: string; message: string }>('PUT', '/profiles/big', profileBody({ scope: `openid ${'x'.repeat(17 * 1024)}` }));
    expect(over.status).toBe(400);
    expect(over.json.error).toBe('invalid_request');
    expect(over.json.message).toContain('16 KiB');

    // Far over: refused by the adapter on the declared length…
    const declared = await rawRequest(`${local.url}/profiles/big`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(1024 * 1024, 'a'),
    });
    expect(declared.status).toBe(400);
    expect(JSON.parse(declared.body)).toMatchObject({ error: 'invalid_request' });

    // …or once a chunked body passes the limit.
    const chunked = await rawRequest(`${local.url}/profiles/big`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 20 }, () => Buffer.alloc(8 * 1024, 'a')),
    });
    expect(chunked.status).toBe(400);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: 'invalid_request' });

    expect((await api('GET', '/profiles/big')).status).toBe(404);
  });

  it('refuses other Host names (DNS rebinding) and cross-origin writes', async () => {
    const rebound = await rawRequest(`${local.url}/profiles/erp/token`, { headers: { host: `evil.example:${local.port}` } });
    expect(rebound.status).toBe(400);
    expect(rebound.body).not.toContain('access_token');

    const localhost = await rawRequest(`${local.url}/profiles/erp`, { headers: { host: `localhost:${local.port}` } });
    expect(localhost.status).toBe(200);

    const crossOrigin = await rawRequest(`${local.url}/profiles/erp`, { method: 'DELETE', headers: { origin: 'https://evil.example' } });
    expect(crossOrigin.status).toBe(400);
    expect((await api('GET', '/profiles/erp')).status).toBe(200);
  });

  it('runs the refresh job: a profile that is due is refreshed', async () => {
    const before = await api<{ access_token: string }>('GET', '/profiles/erp/token');
    const refreshGrants = server.grantCount('refresh_token');
    // Due at expiry − max(margin 600 s, 10% of lifetime): move the broker's clock past that point.
    clock.offsetMs = (TOKEN_TTL_SECONDS - 500) * 1000;
    try {
      const summary = await local.runRefresh();
      expect(summary).toMatchObject({ due: 1, attempted: 1, outcomes: { refreshed: 1 } });
    } finally {
      clock.offsetMs = 0;
    }
    expect(server.grantCount('refresh_token')).toBe(refreshGrants + 1);
    expect(printed.some((line) => line.startsWith('refresh job: 1 of 1 due profile handled (refreshed 1)'))).toBe(true);
    const after = await api<{ access_token: string }>('GET', '/profiles/erp/token');
    expect(after.json.access_token).not.toBe(before.json.access_token);
    expect(await server.introspect(after.json.access_token)).toBe(true);
  });

  it('keeps profiles and tokens across a restart on the same data directory: no new grant is needed', async () => {
    const before = await api<{ access_token: string }>('GET', '/profiles/erp/token');
    const viewBefore = await api<ProfileView>('GET', '/profiles/erp');
    const grants = server.tokenRequests.length;

    const port = local.port;
    await local.close();
    await expect(fetch(`${local.url}/profiles`)).rejects.toThrow();
    local = await start(port);

    const viewAfter = await api<ProfileView>('GET', '/profiles/erp');
    expect(viewAfter.status).toBe(200);
    expect(viewAfter.json).toEqual(viewBefore.json);
    const after = await api<{ access_token: string }>('GET', '/profiles/erp/token');
    expect(after.status).toBe(200);
    expect(after.json.access_token).toBe(before.json.access_token);
    expect(server.tokenRequests.length).toBe(grants);
  });

  it('deletes a profile with its secrets', async () => {
    expect((await api('PUT', '/profiles/gone', profileBody())).status).toBe(201);
    const deleted = await fetch(`${local.url}/profiles/gone`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await api('GET', '/profiles/gone')).status).toBe(404);
    const vault = (await filesUnder(data.dir)).find((f) => f.file.endsWith('vault.json'))!;
    expect(JSON.parse(vault.content.toString('utf8')).profiles).not.toHaveProperty('gone');
  });
});
