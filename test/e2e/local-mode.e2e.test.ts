/**
 * End to end, all on loopback: local mode in-process without the demo, an oidc-provider
 * configured by the test (confidential client, client_secret_basic, PKCE required, rotating refresh
 * tokens), the admin CLI driven through `main()`, consent given in headless Chromium, the consumer SDK's
 * `oauthFetch` against a resource server that introspects at the authorization server, a restart on the
 * same data directory and port, and a grant revoked at the server.
 *
 * One scenario: the steps below run in order and each builds on the previous one.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileVault } from '../../lib/adapters/file-vault.js';
import { main, type CliIo } from '../../lib/cli/main.js';
import { DATA_LAYOUT } from '../../lib/local/local-broker.js';
import { createOAuthFetch, TokenClient } from '../../lib/sdk/index.js';
import { completeConsentInChromium, type BrowserConsentResult } from '../support/consent.js';
import { useLocalAndOidc } from '../support/local-and-oidc.js';
import { startResourceServer, type ResourceServer } from '../support/resource-server.js';

const SCOPE = 'openid offline_access';
const TOKEN_TTL_SECONDS = 3600;
const printed: string[] = [];
// Everything the broker (and anything else in-process) logs is captured from the very start, at DEBUG.
const scenario = useLocalAndOidc('e2e', {
  captureLogs: true,
  local: { print: (line) => printed.push(line) },
  oidc: { accessTokenTtlSeconds: TOKEN_TTL_SECONDS, rotateRefreshToken: true, pkceRequired: true },
});
const { profileId: PROFILE_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } = scenario.client;

interface CliRun {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}

let resource: ResourceServer;
/** Every CLI run of the scenario, for the secret checks at the end. */
const cliRuns: CliRun[] = [];

/** What the steps learn and later steps check. */
const seen: {
  accessToken?: string;
  refreshToken?: string;
  code?: string;
  state?: string;
  refreshGrantsBeforeRestart?: number;
  refreshRun?: CliRun;
} = {};

/** Runs the admin CLI in-process against the local broker, output captured. */
async function cli(argv: string[], io: Partial<CliIo> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([]),
    env: { BROKER_URL: scenario.local.url },
    isTTY: false,
    openUrl: () => false,
    pollIntervalMs: 100,
    ...io,
  });
  const result = { argv, code, stdout, stderr };
  cliRuns.push(result);
  return result;
}

/** `status --json` → the entry of the scenario's profile. */
async function statusEntry(): Promise<Record<string, unknown>> {
  const run = await cli(['status', '--json']);
  expect(run.code, run.stderr).toBe(0);
  const { profiles } = JSON.parse(run.stdout) as { profiles: Array<Record<string, unknown>> };
  const entry = profiles.find((p) => p['id'] === PROFILE_ID);
  expect(entry, run.stdout).toBeDefined();
  return entry!;
}

/** The token set the broker holds, read from its vault while it is stopped (for the secret checks). */
async function heldTokenSet() {
  const vault = await FileVault.open({ dir: path.join(scenario.dataDir, DATA_LAYOUT.vault) });
  return vault.getTokenSet(PROFILE_ID);
}

beforeAll(async () => {
  resource = await startResourceServer({ introspect: (token) => scenario.server.introspect(token) });
}, 60_000);

afterAll(async () => {
  await resource?.close();
}, 60_000);

describe('local mode end to end: CLI, consent in Chromium, SDK, restart, revocation', () => {
  it('1. runs local mode without the demo on loopback, next to the test\'s authorization server', () => {
    expect(scenario.local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(scenario.local.callbackUrl).toBe(`${scenario.local.url}/callback`);
    expect(scenario.local.demo).toBeUndefined();
    expect(scenario.server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('2. registers the profile with `profiles put --file`', async () => {
    const file = path.join(scenario.work, 'profile.json');
    await writeFile(
      file,
      JSON.stringify({
        issuer: scenario.server.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        clientAuthMethod: 'client_secret_basic',
        scope: SCOPE,
        authorizationParams: { prompt: 'consent' },
      }),
      { mode: 0o600 },
    );

    const put = await cli(['profiles', 'put', PROFILE_ID, '--file', file]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toContain(`Created profile "${PROFILE_ID}" (authorization_code, state authorization_required).`);
    expect(put.stdout).toContain(`Callback URL: ${scenario.local.callbackUrl}`);

    const get = await cli(['profiles', 'get', PROFILE_ID, '--json']);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({
      id: PROFILE_ID,
      grantType: 'authorization_code',
      issuer: scenario.server.issuer,
      clientId: CLIENT_ID,
      hasClientSecret: true,
      clientAuthMethod: 'client_secret_basic',
      scope: SCOPE,
      authorizationParams: { prompt: 'consent' },
      usePkce: true,
      callbackUrl: scenario.local.callbackUrl,
      status: { state: 'authorization_required', hasRefreshToken: false },
    });
    expect(get.stdout).not.toContain(CLIENT_SECRET);
  });

  it('3. `authorize --open --wait` waits while headless Chromium logs in and consents', async () => {
    let opened: (url: string) => void = () => undefined;
    const openedUrl = new Promise<string>((resolve) => (opened = resolve));
    // Set when the browser fails, so that the CLI stops polling at once instead of at its timeout.
    let abort = false;
    const running = cli(['authorize', PROFILE_ID, '--open', '--wait', '--timeout', '120'], {
      openUrl: (url) => {
        opened(url);
        return true;
      },
      sleep: (ms) => (abort ? Promise.reject(new Error('the browser failed')) : new Promise((resolve) => setTimeout(resolve, ms))),
    });

    const url = await Promise.race([
      openedUrl,
      running.then((run) => {
        throw new Error(`the CLI ended before opening a browser (exit ${run.code}): ${run.stderr}`);
      }),
    ]);

    // The URL of "Copy Authorization URL": the server's authorization endpoint, with PKCE S256 and the local callback.
    const authorization = new URL(url);
    expect(`${authorization.origin}${authorization.pathname}`).toBe(scenario.server.authorizationEndpoint);
    expect(authorization.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(authorization.searchParams.get('redirect_uri')).toBe(scenario.local.callbackUrl);
    expect(authorization.searchParams.get('response_type')).toBe('code');
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorization.searchParams.get('prompt')).toBe('consent');
    expect(authorization.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access']));

    let page: BrowserConsentResult;
    try {
      page = await completeConsentInChromium(url, { timeoutMs: 30_000 });
    } catch (error) {
      abort = true;
      await running.catch(() => undefined);
      throw error;
    }

    // The browser landed on the local /callback, which says the profile is authorized.
    const callback = new URL(page.finalUrl);
    expect(`${callback.origin}${callback.pathname}`).toBe(scenario.local.callbackUrl);
    expect(callback.searchParams.get('iss')).toBe(scenario.server.issuer);
    expect(callback.searchParams.get('state')).toBe(authorization.searchParams.get('state'));
    seen.code = callback.searchParams.get('code') ?? undefined;
    seen.state = callback.searchParams.get('state') ?? undefined;
    expect(seen.code).toBeTruthy();
    expect(page.status).toBe(200);
    expect(page.pageText).toContain(`Profile "${PROFILE_ID}" is authorized`);
    expect(page.pageText).not.toContain(seen.code!);

    const run = await running;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Copy Authorization URL for "${PROFILE_ID}" \\(single use, valid until .+\\):$`));
    expect(lines[1]).toBe(url);
    expect(run.stdout).toMatch(new RegExp(`✓ "${PROFILE_ID}" is ready: access token expires in (59m|1h)\\.`));
    expect(run.stderr).toContain('Opened the authorization URL in the browser.');
    expect(scenario.server.grantCount('authorization_code')).toBe(1);
    expect(printed).toContain(`✓ profile "${PROFILE_ID}": authorization_required → ready`);
  }, 180_000);

  it('4. `status` shows ✓ for the profile, and `status --json` says ready', async () => {
    const table = await cli(['status']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^✓\\s+${PROFILE_ID}\\s+ready\\s+(59m|1h)\\s+-$`, 'm'));

    const one = await cli(['status', PROFILE_ID]);
    expect(one.code, one.stderr).toBe(0);

    const entry = await statusEntry();
    expect(entry).toMatchObject({ id: PROFILE_ID, ready: true, state: 'ready', lastError: null });
    expect(entry['expiresInSeconds']).toBeGreaterThan(TOKEN_TTL_SECONDS - 120);

    const get = await cli(['profiles', 'get', PROFILE_ID, '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ status: { state: 'ready', hasRefreshToken: true, consecutiveFailures: 0 } });
  });

  it('5. the SDK\'s oauthFetch calls a resource server that checks the token at the authorization server', async () => {
    const client = new TokenClient({ baseUrl: scenario.local.url });
    expect(client.signed).toBe(false);
    const erpFetch = createOAuthFetch(client, PROFILE_ID);

    const response = await erpFetch(resource.url);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(resource.tokens).toHaveLength(1);

    // The token it sent is the profile's, as the CLI prints it, and the server says it is active.
    const token = await cli(['token', PROFILE_ID]);
    expect(token.code, token.stderr).toBe(0);
    seen.accessToken = token.stdout.trim();
    expect(seen.accessToken).not.toBe('');
    expect(resource.tokens[0]).toBe(seen.accessToken);
    expect(await scenario.server.introspect(seen.accessToken)).toBe(true);
    expect(scenario.server.grantCount('refresh_token')).toBe(0);
  });

  it('6. after a restart on the same data directory and port the token is still there, not refreshed', async () => {
    const port = scenario.local.port;
    seen.refreshGrantsBeforeRestart = scenario.server.grantCount('refresh_token');
    await scenario.stopLocal();

    const held = await heldTokenSet();
    expect(held?.accessToken).toBe(seen.accessToken);
    expect(held?.refreshToken).toBeTruthy();
    seen.refreshToken = held!.refreshToken!;
    expect(await scenario.server.refreshTokenActive(seen.refreshToken)).toBe(true);

    await scenario.startLocal();
    expect(scenario.local.port).toBe(port);
    expect(scenario.local.callbackUrl).toBe(`http://127.0.0.1:${port}/callback`);
    // The refresh job ran at start; run it once more: the token is far from due, so neither refreshes it.
    await scenario.local.runRefresh();

    const token = await cli(['token', PROFILE_ID]);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toBe(seen.accessToken);
    expect(scenario.server.grantCount('refresh_token')).toBe(seen.refreshGrantsBeforeRestart);

    expect(await statusEntry()).toMatchObject({ state: 'ready', ready: true });
    const response = await new TokenClient({ baseUrl: scenario.local.url }).oauthFetch(PROFILE_ID, resource.url);
    expect(response.status).toBe(200);
    await response.body?.cancel();
  }, 60_000);

  it('7. once the grant is revoked at the server, `refresh` ends in authorization_required and `token` exits 3', async () => {
    const sdk = new TokenClient({ baseUrl: scenario.local.url });
    expect((await sdk.getToken(PROFILE_ID)).accessToken).toBe(seen.accessToken);

    expect(await scenario.server.revokeGrantsFor(CLIENT_ID)).toBe(1);
    expect(await scenario.server.introspect(seen.accessToken!)).toBe(false);

    const refresh = await cli(['refresh', PROFILE_ID]);
    seen.refreshRun = refresh;
    expect(refresh.code, refresh.stderr).toBe(3);
    expect(refresh.stderr).toContain(`oauth-broker authorize ${PROFILE_ID} --open --wait`);
    expect(scenario.server.grantCount('refresh_token')).toBe(seen.refreshGrantsBeforeRestart! + 1);
    expect(scenario.server.grantErrorCount('refresh_token', 'invalid_grant')).toBe(1);

    const entry = await statusEntry();
    expect(entry).toMatchObject({ id: PROFILE_ID, ready: false, state: 'authorization_required', lastError: { code: 'invalid_grant' } });

    const table = await cli(['status']);
    expect(table.stdout).toMatch(new RegExp(`^✗\\s+${PROFILE_ID}\\s+authorization_required\\s`, 'm'));
    expect((await cli(['status', PROFILE_ID])).code).toBe(3);

    const token = await cli(['token', PROFILE_ID]);
    expect(token.code).toBe(3);
    expect(token.stdout).toBe('');
    expect(token.stderr).toContain(`Authorize it with: oauth-broker authorize ${PROFILE_ID} --open --wait`);

    const tokenJson = await cli(['token', PROFILE_ID, '--json']);
    expect(tokenJson.code).toBe(3);
    expect(JSON.parse(tokenJson.stderr)).toMatchObject({ error: 'authorization_required', status: 409 });

    // The SDK's cached token is refused by the resource server; the fresh one it then asks for is refused by the broker.
    await expect(sdk.oauthFetch(PROFILE_ID, resource.url)).rejects.toMatchObject({ code: 'authorization_required', status: 409 });
    expect(printed.filter((line) => line.startsWith(`✗ profile "${PROFILE_ID}": ready → authorization_required (invalid_grant`))).toHaveLength(1);
  });

  it('7b. `refresh` after that attempt prints the profile view (docs/api.md: 200 view after a refresh attempt; 409 only with nothing to refresh with)', () => {
    // The refresh of step 7 was attempted (one refresh_token grant, answered invalid_grant): the broker must
    // answer 200 with the view, whose status tells the outcome, and the CLI then prints that outcome.
    const refresh = seen.refreshRun;
    expect(refresh, 'step 7 did not run').toBeDefined();
    expect(refresh!.stderr, 'the broker answered an error instead of the view').not.toContain('oauth-broker: ');
    expect(refresh!.stdout).toContain(`✗ "${PROFILE_ID}" is authorization_required after the refresh: invalid_grant`);
  });

  it('8. no client secret, refresh token, access token or code in the CLI\'s stderr or the broker\'s logs', () => {
    const secrets = {
      clientSecret: CLIENT_SECRET,
      refreshToken: seen.refreshToken,
      accessToken: seen.accessToken,
      authorizationCode: seen.code,
    };
    for (const [name, value] of Object.entries(secrets)) expect(value, `${name} was not seen`).toBeTruthy();

    const stderr = cliRuns.map((run) => run.stderr).join('\n');
    const stdout = cliRuns.map((run) => run.stdout).join('\n');
    const logged = scenario.logs.text();
    for (const [name, value] of Object.entries(secrets)) {
      expect(stderr.includes(value!), `the CLI's stderr contains the ${name}`).toBe(false);
      expect(logged.includes(value!), `the broker's logs contain the ${name}`).toBe(false);
      expect(printed.join('\n').includes(value!), `local mode's printed lines contain the ${name}`).toBe(false);
      // Only `token` prints the access token, on stdout, by design.
      if (name !== 'accessToken') expect(stdout.includes(value!), `the CLI's stdout contains the ${name}`).toBe(false);
    }

    // The logs captured the scenario: the broker's structured entries for this profile.
    const entries = scenario.logs.entries().filter((entry) => entry['profileId'] === PROFILE_ID);
    const messages = new Set(entries.map((entry) => entry['message']));
    expect(messages).toContain('profile saved');
    expect(messages).toContain('authorization started');
    expect(messages).toContain('profile authorized');
    expect(logged.length).toBeGreaterThan(0);
  });
});
