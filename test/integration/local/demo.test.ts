/**
 * Local mode with the demo (`BROKER_DEMO=1`): the demo authorization server starts, profile `demo` is
 * registered on it, its authorization URL works end to end (devInteractions: any login and password),
 * and a restart registers it afresh because the demo server keeps nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PROFILE_ID, startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import type { ProfileView } from '../../../lib/profile.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { tempDataDir } from './support.js';

let data: Awaited<ReturnType<typeof tempDataDir>>;
let local: LocalBroker;
const printed: string[] = [];

const start = () => startLocalBroker({ port: 0, demoPort: 0, dataDir: data.dir, demo: true, print: (line) => printed.push(line) });

beforeAll(async () => {
  data = await tempDataDir();
  local = await start();
});

afterAll(async () => {
  await local?.close();
  await data?.remove();
});

async function getJson<T>(route: string, init?: RequestInit): Promise<{ status: number; json: T }> {
  const response = await fetch(`${local.url}${route}`, init);
  return { status: response.status, json: (await response.json()) as T };
}

describe('local mode with the demo', () => {
  it('starts the demo authorization server and registers profile "demo" on it', async () => {
    expect(local.demo).toBeDefined();
    expect(local.demo!.profileId).toBe(DEMO_PROFILE_ID);
    expect(local.demo!.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const discovery = await fetch(`${local.demo!.issuer}/.well-known/openid-configuration`).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(discovery.issuer).toBe(local.demo!.issuer);
    expect(discovery.code_challenge_methods_supported).toContain('S256');

    const { status, json } = await getJson<ProfileView>('/profiles/demo');
    expect(status).toBe(200);
    expect(json).toMatchObject({
      issuer: local.demo!.issuer,
      clientId: 'demo',
      hasClientSecret: true,
      scope: 'openid offline_access',
      authorizationParams: { prompt: 'consent' },
      usePkce: true,
      callbackUrl: local.callbackUrl,
    });
    expect(json.status.state).toBe('authorization_required');
  });

  it('serves a working authorization URL: consent turns the profile ready and its token is served and refreshable', async () => {
    const { status, json } = await getJson<{ authorizationUrl: string }>('/profiles/demo/authorize-url');
    expect(status).toBe(200);
    const url = new URL(json.authorizationUrl);
    expect(url.origin).toBe(local.demo!.issuer);
    expect(url.searchParams.get('redirect_uri')).toBe(local.callbackUrl);
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');

    let page: Response | undefined;
    await completeConsentProgrammatically(json.authorizationUrl, {
      login: 'someone',
      password: 'anything',
      followRedirectTo: async (u) => (page = await fetch(u)),
    });
    expect(page!.status).toBe(200);

    const view = await getJson<ProfileView>('/profiles/demo');
    expect(view.json.status).toMatchObject({ state: 'ready', hasRefreshToken: true });
    expect(printed).toContain('✓ profile "demo": authorization_required → ready');

    const token = await getJson<{ access_token: string; expires_in: number }>('/profiles/demo/token');
    expect(token.status).toBe(200);
    expect(token.json.expires_in).toBeGreaterThan(800);

    // The demo server rotates refresh tokens; a refresh now gets a new access token.
    const refreshed = await getJson<ProfileView>('/profiles/demo/refresh', { method: 'POST' });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.status.state).toBe('ready');
    const after = await getJson<{ access_token: string }>('/profiles/demo/token');
    expect(after.json.access_token).not.toBe(token.json.access_token);
  });

  it('registers "demo" afresh after a restart: the new demo server does not know the old grant', async () => {
    await local.close();
    local = await start();
    const view = await getJson<ProfileView>('/profiles/demo');
    expect(view.json.issuer).toBe(local.demo!.issuer);
    expect(view.json.status.state).toBe('authorization_required');
    expect((await getJson('/profiles/demo/authorize-url')).status).toBe(200);
  });
});
