/**
 * `private_key_jwt` in local mode against a real oidc-provider whose clients are registered with the
 * broker's `jwks_uri` (docs/keys.md): no client secret anywhere, the authorization code and client
 * credentials grants go green, the server receives valid assertions (checked on what it received), DELETE
 * revokes with one, bad input changes nothing, and a rotation keeps a profile green while the server
 * re-fetches the JWKS once its cache is stale.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import type { KeyRingView, ProfileKeyMaterial } from '../../../lib/keys/signing-keys.js';
import type { ProfileView } from '../../../lib/profile.js';
import { completeConsentProgrammatically } from '../../support/consent.js';
import { startOidcServer, type OidcServer, type ReceivedClientAssertion } from '../../support/oidc-server.js';
import { captureLogs } from '../../support/log-capture.js';
import { FileVault } from '../../../lib/adapters/file-vault.js';
import { createLogger } from '../../../lib/logger.js';
import { callJson, tempDataDir } from '../local/support.js';
import { issuingTokens, startHostileServer, type HostileServer } from '../../support/hostile-server.js';

const CODE_CLIENT = 'pkjwt-code-client';
const MACHINE_CLIENT = 'pkjwt-machine-client';
const SCOPE = 'openid offline_access';

let data: Awaited<ReturnType<typeof tempDataDir>>;
let local: LocalBroker;
let server: OidcServer;
let jwksUri: string;
const printed: string[] = [];

beforeAll(async () => {
  data = await tempDataDir();
  local = await startLocalBroker({
    port: 0,
    dataDir: data.dir,
    demo: false,
    refreshIntervalSeconds: 3600,
    refreshOnStart: false,
    print: (line) => printed.push(line),
    // INFO level (not local mode's quiet default), so that the log checks below have lines to search.
    logger: createLogger(),
  });
  jwksUri = `${local.url}/jwks`;
  server = await startOidcServer({
    clients: [
      { clientId: CODE_CLIENT, authMethod: 'private_key_jwt', jwksUri, redirectUris: [local.callbackUrl] },
      { clientId: MACHINE_CLIENT, authMethod: 'private_key_jwt', jwksUri, redirectUris: [], grantTypes: ['client_credentials'] },
    ],
    clientCredentials: true,
  });
});

afterAll(async () => {
  await local?.close();
  await server?.close();
  await data?.remove();
});

// The broker logs at INFO here: kept out of the test report (BROKER_TEST_LOGS=1 shows them).
let quiet: ReturnType<typeof captureLogs> | undefined;
beforeEach(() => {
  quiet = captureLogs();
});
afterEach(() => {
  quiet?.stop();
  vi.useRealTimers();
});

const api = <T = unknown>(method: string, route: string, body?: unknown) => callJson<T>(local.url, method, route, body);

async function createCodeProfile(id: string, extra: Record<string, unknown> = {}): Promise<ProfileView> {
  const put = await api<ProfileView>('PUT', `/profiles/${id}`, {
    issuer: server.issuer,
    clientId: CODE_CLIENT,
    clientAuthMethod: 'private_key_jwt',
    scope: SCOPE,
    authorizationParams: { prompt: 'consent' },
    ...extra,
  });
  expect(put.status, JSON.stringify(put.json)).toBe(201);
  return put.json;
}

/** authorize-url → consent at the server → the redirect delivered to the local /callback; expects success. */
async function authorize(id: string): Promise<void> {
  const { json } = await api<{ authorizationUrl: string }>('GET', `/profiles/${id}/authorize-url`);
  let callback: Response | undefined;
  await completeConsentProgrammatically(json.authorizationUrl, { followRedirectTo: async (url) => (callback = await fetch(url)) });
  expect(callback?.status, await callback?.clone().text()).toBe(200);
  expect((await api<ProfileView>('GET', `/profiles/${id}`)).json.status.state).toBe('ready');
}

async function refresh(id: string): Promise<ProfileView> {
  const answer = await api<ProfileView>('POST', `/profiles/${id}/refresh`);
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  return answer.json;
}

/** The assertions the server received since `from`, at `endpoint`. */
const received = (from: number, endpoint = '/token') => server.clientAssertions.slice(from).filter((a) => a.endpoint === endpoint);

/** RFC 7523 §3 as the server received it; `audience` is what the profile asked for. */
function expectValidAssertion(assertion: ReceivedClientAssertion | undefined, clientId: string, audience: string, kid: string): void {
  expect(assertion, 'the server received a client assertion').toBeDefined();
  const { header, payload, assertionType, status } = assertion!;
  expect(status, 'the server accepted the assertion').toBe(200);
  expect(assertionType).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  expect(header).toMatchObject({ alg: 'ES256', kid, typ: 'JWT' });
  expect(payload).toMatchObject({ iss: clientId, sub: clientId, aud: audience });
  expect(typeof payload.jti).toBe('string');
  expect((payload.jti as string).length).toBeGreaterThanOrEqual(16);
  const { iat, exp } = payload as { iat: number; exp: number };
  expect(exp).toBeGreaterThan(iat);
  expect(exp - iat).toBeLessThanOrEqual(300);
  expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(60);
}

describe('private_key_jwt in local mode', () => {
  it('an authorization-code profile without any client secret goes green; the server verified ES256 assertions from the JWKS', async () => {
    const view = await createCodeProfile('pk-code');
    expect(view).toMatchObject({
      hasClientSecret: false,
      clientAuthMethod: 'private_key_jwt',
      clientAssertionAlgorithm: 'ES256',
      clientAssertionAudience: 'issuer',
      signingKey: { alg: 'ES256', jwksUri },
    });
    const kid = view.signingKey!.kid;

    // The public JWKS: cacheable, public members only, the profile's key with kid, alg and use.
    const jwks = await fetch(jwksUri);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    const set = (await jwks.json()) as { keys: Record<string, unknown>[] };
    const published = set.keys.find((key) => key.kid === kid);
    expect(published).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(Object.keys(published!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(await calculateJwkThumbprint(published as { kty: string }, 'sha256')).toBe(view.signingKey!.thumbprint);

    const before = server.clientAssertions.length;
    await authorize('pk-code');
    const [exchange] = received(before);
    expectValidAssertion(exchange, CODE_CLIENT, server.issuer, kid);
    expect(server.grantCount('authorization_code')).toBeGreaterThanOrEqual(1);

    const afterAuthorization = server.clientAssertions.length;
    expect((await refresh('pk-code')).status).toMatchObject({ state: 'ready', lastError: null });
    const [refreshed] = received(afterAuthorization);
    expectValidAssertion(refreshed, CODE_CLIENT, server.issuer, kid);
    expect(refreshed!.payload.jti).not.toBe(exchange!.payload.jti);

    // No client secret was stored; the local private key is sealed in the vault.
    const vaultFile = JSON.parse(await readFile(path.join(local.dataDir, 'vault', 'vault.json'), 'utf8')) as {
      profiles: Record<string, { clientSecret: string | null }>;
      signingKeys: Record<string, string>;
    };
    expect(vaultFile.profiles['pk-code']?.clientSecret ?? null).toBeNull();
    expect(Object.keys(vaultFile.signingKeys)).toContain(kid);
    expect(JSON.stringify(vaultFile)).not.toContain('PRIVATE KEY');
  });

  it('GET /profiles/{id}/signing-key gives the JWK and a certificate made by the same key; assertions carry its thumbprints', async () => {
    const answer = await api<ProfileKeyMaterial>('GET', '/profiles/pk-code/signing-key');
    expect(answer.status).toBe(200);
    const { current } = answer.json;
    const certificate = new X509Certificate(current.certificatePem);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.publicKey.export({ format: 'jwk' })).toMatchObject({ x: current.jwk.x, y: current.jwk.y });
    expect(current.x5t).toBe(Buffer.from(certificate.fingerprint.replace(/:/g, ''), 'hex').toString('base64url'));

    const last = server.clientAssertions.at(-1)!;
    expect(last.header).toMatchObject({ kid: current.kid, x5t: current.x5t, 'x5t#S256': current['x5t#S256'] });
  });

  it('a client-credentials profile with the token endpoint as audience gets a token the server honours', async () => {
    const put = await api<ProfileView>('PUT', '/profiles/pk-machine', {
      grantType: 'client_credentials',
      tokenUrl: server.tokenEndpoint,
      clientId: MACHINE_CLIENT,
      clientAuthMethod: 'private_key_jwt',
      clientAssertionAudience: 'token_endpoint',
    });
    expect(put.status, JSON.stringify(put.json)).toBe(201);
    const before = server.clientAssertions.length;
    const token = await api<{ access_token: string }>('GET', '/profiles/pk-machine/token');
    expect(token.status, JSON.stringify(token.json)).toBe(200);
    expect(await server.introspect(token.json.access_token)).toBe(true);
    expectValidAssertion(received(before)[0], MACHINE_CLIENT, server.tokenEndpoint, put.json.signingKey!.kid);
  });

  it('bad input is refused with the contract\'s errors and changes nothing', async () => {
    const keysBefore = await api<KeyRingView>('GET', '/keys');
    const refusals: [string, string, unknown, number, RegExp][] = [
      ['PUT', '/profiles/pk-bad', { issuer: server.issuer, clientId: CODE_CLIENT, clientAuthMethod: 'private_key_jwt', clientSecret: 'not-wanted-secret' }, 400, /clientSecret must be omitted/],
      ['PUT', '/profiles/pk-bad', { issuer: server.issuer, clientId: CODE_CLIENT, clientSecret: 's3cret-value', clientAssertionAlgorithm: 'RS256' }, 400, /applies only when clientAuthMethod is "private_key_jwt"/],
      ['PUT', '/profiles/pk-bad', { issuer: server.issuer, clientId: CODE_CLIENT, clientAuthMethod: 'private_key_jwt', clientAssertionAlgorithm: 'HS256' }, 400, /clientAssertionAlgorithm/],
      ['POST', '/keys/rotate', { alg: 'HS256' }, 400, /alg must be one of ES256, RS256, PS256/],
      ['POST', '/keys/rotate', { keyArn: 'arn:aws:kms:eu-central-1:111122223333:key/abc' }, 400, /local mode makes its own keys/],
      ['POST', '/keys/rotate', { algorithm: 'ES256' }, 400, /Unknown field "algorithm"/],
      ['POST', '/keys/promote', {}, 409, /no next ES256 key/],
      ['POST', '/keys/promote', { graceSeconds: 5 }, 400, /graceSeconds must be/],
      ['POST', '/keys/withdraw', { kid: keysBefore.json.keys[0]!.kid }, 409, /signs ES256 assertions now/],
      ['POST', '/keys/withdraw', { kid: 'no-such-kid' }, 400, /No key with kid/],
      ['GET', '/profiles/pk-none/signing-key', undefined, 404, /does not exist/],
    ];
    for (const [method, route, body, status, message] of refusals) {
      const answer = await api<{ error: string; message: string }>(method, route, body);
      expect(answer.status, `${method} ${route} ${JSON.stringify(body)}`).toBe(status);
      expect(answer.json.error).toBe(status === 400 ? 'invalid_request' : status === 404 ? 'not_found' : 'conflict');
      expect(answer.json.message).toMatch(message);
      expect(answer.json.message).not.toContain('not-wanted-secret');
    }
    expect((await api('GET', '/profiles/pk-bad')).status).toBe(404);
    expect((await api<KeyRingView>('GET', '/keys')).json).toEqual(keysBefore.json);
  });

  it('a profile moved from a client secret to private_key_jwt keeps no client secret: the vault no longer holds it', async () => {
    // Prepare: a client_secret_basic profile whose secret is in the vault.
    const secret = 'pk-switch-secret-3f9a7c1e';
    const created = await api<ProfileView>('PUT', '/profiles/pk-switch', {
      issuer: server.issuer,
      clientId: CODE_CLIENT,
      clientAuthMethod: 'client_secret_basic',
      clientSecret: secret,
      scope: SCOPE,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const vault = new FileVault({ dir: path.join(local.dataDir, 'vault') });
    expect(await vault.getClientSecret('pk-switch')).toBe(secret);

    // Act: the same profile, now signing its assertions.
    const moved = await api<ProfileView>('PUT', '/profiles/pk-switch', { issuer: server.issuer, clientId: CODE_CLIENT, clientAuthMethod: 'private_key_jwt', scope: SCOPE });

    // Assess: saved without a secret, and the vault's copy is gone (read from the vault file itself).
    expect(moved.status, JSON.stringify(moved.json)).toBe(200);
    expect(moved.json.hasClientSecret).toBe(false);
    const reread = new FileVault({ dir: path.join(local.dataDir, 'vault') });
    expect(await reread.getClientSecret('pk-switch')).toBeUndefined();
    expect(await readFile(path.join(local.dataDir, 'vault', 'vault.json'), 'utf8')).not.toContain(secret);
    // Giving the secret-based method back asks for a secret anew.
    const back = await api<{ error: string }>('PUT', '/profiles/pk-switch', { issuer: server.issuer, clientId: CODE_CLIENT, clientAuthMethod: 'client_secret_basic', scope: SCOPE });
    expect(back.status).toBe(400);
    expect(back.json.error).toBe('invalid_request');
    expect((await api('DELETE', '/profiles/pk-switch')).status).toBe(204);
  });

  it('rotation keeps a profile green: next key published, promoted once servers can have seen it, old key withdrawn after the grace period', async () => {
    await createCodeProfile('pk-rotate');
    await authorize('pk-rotate');
    const old = (await api<ProfileView>('GET', '/profiles/pk-rotate')).json.signingKey!.kid;
    printed.length = 0;

    // 1. A next key, published beside the current one; the profile still signs with the current key.
    const rotated = await api<KeyRingView>('POST', '/keys/rotate', {});
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    const next = rotated.json.keys.find((key) => key.status === 'next')!;
    expect(next).toMatchObject({ alg: 'ES256', key: 'local', published: true });
    const published = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(published.keys.map((key) => key.kid)).toEqual(expect.arrayContaining([old, next.kid]));
    let from = server.clientAssertions.length;
    await refresh('pk-rotate');
    expect(received(from)[0]).toMatchObject({ status: 200, header: { kid: old } });

    // 2. Promotion waits until servers honouring the JWKS cache headers can have seen the next key.
    const early = await api<{ error: string; message: string }>('POST', '/keys/promote', {});
    expect(early.status).toBe(409);
    expect(early.json.message).toMatch(/servers may cache the JWKS for 300 s/);
    expect((await api<KeyRingView>('GET', '/keys')).json.keys.find((key) => key.kid === next.kid)?.status).toBe('next');

    // Six minutes later (for the broker and the authorization server alike): the server's JWKS cache is stale.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 6 * 60 * 1000);
    const promotedRing = await api<KeyRingView>('POST', '/keys/promote', { graceSeconds: 600 });
    expect(promotedRing.status, JSON.stringify(promotedRing.json)).toBe(200);
    expect(promotedRing.json.keys.find((key) => key.kid === next.kid)).toMatchObject({ status: 'current' });
    expect(promotedRing.json.keys.find((key) => key.kid === old)).toMatchObject({ status: 'retiring', published: true });
    expect((await api<ProfileView>('GET', '/profiles/pk-rotate')).json.signingKey?.kid).toBe(next.kid);

    // The new key signs; the server, its cache stale, re-fetched the JWKS and accepted it.
    from = server.clientAssertions.length;
    expect((await refresh('pk-rotate')).status.state).toBe('ready');
    expect(received(from)[0]).toMatchObject({ status: 200, header: { kid: next.kid } });

    // 3. After the grace period the old key leaves the JWKS, and the withdrawal is recorded.
    vi.setSystemTime(Date.now() + 11 * 60 * 1000);
    const after = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(after.keys.map((key) => key.kid)).not.toContain(old);
    expect(after.keys.map((key) => key.kid)).toContain(next.kid);
    // The refresh schedule records the withdrawal; the command then finds nothing left to do.
    await local.runRefresh();
    expect(printed).toContain(`signing key ${old} (ES256): withdrawn`);
    const withdrawn = await api<KeyRingView>('POST', '/keys/withdraw', {});
    expect(withdrawn.json.keys.find((key) => key.kid === old)).toMatchObject({ status: 'withdrawn', published: false });
    from = server.clientAssertions.length;
    expect((await refresh('pk-rotate')).status.state).toBe('ready');
    expect(received(from)[0]).toMatchObject({ status: 200, header: { kid: next.kid } });

    // A signal for each step.
    expect(printed.filter((line) => line.startsWith('signing key'))).toEqual([
      `signing key ${next.kid} (ES256): published`,
      `signing key ${next.kid} (ES256): promoted`,
      expect.stringMatching(new RegExp(`^signing key ${old} \\(ES256\\): retiring until `)),
      `signing key ${old} (ES256): withdrawn`,
    ]);
    // The withdrawn key's private half is gone from the vault.
    const vaultFile = JSON.parse(await readFile(path.join(local.dataDir, 'vault', 'vault.json'), 'utf8')) as { signingKeys: Record<string, string> };
    expect(Object.keys(vaultFile.signingKeys)).not.toContain(old);
  });

  it('the private key reaches no one: not the server, not the JWKS, not an API answer, not a log line', async () => {
    const logs = captureLogs();
    try {
      const answers: string[] = [];
      const call = async (method: string, route: string, body?: unknown) => {
        const answer = await api(method, route, body);
        answers.push(JSON.stringify(answer.json));
        return answer;
      };
      await call('POST', '/profiles/pk-rotate/refresh');
      await call('GET', '/profiles/pk-rotate');
      await call('GET', '/profiles/pk-rotate/signing-key');
      await call('GET', '/keys');
      answers.push(await (await fetch(jwksUri)).text());
      // The private halves of every key the broker made, read back from its vault.
      const vault = new FileVault({ dir: path.join(local.dataDir, 'vault') });
      const ring = (await api<KeyRingView>('GET', '/keys')).json;
      const privateParts: string[] = [];
      for (const key of ring.keys) {
        const pem = await vault.getSigningKey(key.kid);
        if (!pem) continue;
        const { createPrivateKey } = await import('node:crypto');
        privateParts.push((createPrivateKey(pem).export({ format: 'jwk' }) as { d: string }).d, pem.split('\n')[1]!);
      }
      expect(privateParts.length).toBeGreaterThan(0);
      const received = server.clientAssertions.map((a) => a.jwt).join('\n');
      for (const secret of privateParts) {
        expect(received).not.toContain(secret);
        expect(answers.join('\n')).not.toContain(secret);
        expect(logs.text()).not.toContain(secret);
      }
      expect(answers.join('\n')).not.toMatch(/PRIVATE KEY|"d":/);
      expect(logs.entries().length, 'the broker logged while refreshing').toBeGreaterThan(0);
    } finally {
      logs.stop();
    }
  });

  describe('an assertion never reaches another server than its audience', () => {
    let hostile: HostileServer;
    beforeAll(async () => {
      hostile = await startHostileServer();
      hostile.route('/token', issuingTokens(3600));
      hostile.route('/revoke', (_, res) => {
        res.writeHead(200).end();
      });
    });
    afterAll(() => hostile?.close());

    it('a token endpoint moved to another server receives no assertion; the profile is in error and says why', async () => {
      const put = await api<ProfileView>('PUT', '/profiles/pk-moved', {
        grantType: 'client_credentials',
        issuer: server.issuer,
        tokenUrl: hostile.url('/token'),
        clientId: MACHINE_CLIENT,
        clientAuthMethod: 'private_key_jwt',
      });
      expect(put.status, JSON.stringify(put.json)).toBe(201);
      const token = await api<{ error: string }>('GET', '/profiles/pk-moved/token');
      expect(token.status).toBe(503);
      expect(hostile.receivedText()).not.toContain('client_assertion');
      const view = (await api<ProfileView>('GET', '/profiles/pk-moved')).json;
      expect(view.status).toMatchObject({ state: 'error', lastError: { code: 'invalid_configuration', message: expect.stringMatching(/No client assertion was sent/) } });
    });

    it('a revocation endpoint on another server receives no assertion (and no token) on DELETE', async () => {
      const put = await api<ProfileView>('PUT', '/profiles/pk-revoke-elsewhere', {
        grantType: 'client_credentials',
        issuer: server.issuer,
        tokenUrl: server.tokenEndpoint,
        revocationUrl: hostile.url('/revoke'),
        clientId: MACHINE_CLIENT,
        clientAuthMethod: 'private_key_jwt',
        clientAssertionAudience: 'token_endpoint',
      });
      expect(put.status, JSON.stringify(put.json)).toBe(201);
      const token = await api<{ access_token: string }>('GET', '/profiles/pk-revoke-elsewhere/token');
      expect(token.status, JSON.stringify(token.json)).toBe(200);
      expect((await api('DELETE', '/profiles/pk-revoke-elsewhere')).status).toBe(204);
      expect(hostile.receivedAt('/revoke').map((r) => r.form.get('client_assertion'))).toEqual(hostile.receivedAt('/revoke').map(() => null));
      expect(hostile.receivedText()).not.toContain('client_assertion');
    });
  });

  it('DELETE revokes the grant at the revocation endpoint with a client assertion', async () => {
    const from = server.clientAssertions.length;
    expect((await api('DELETE', '/profiles/pk-code')).status).toBe(204);
    const [revocation] = received(from, '/token/revocation');
    expect(revocation).toMatchObject({ status: 200, payload: { iss: CODE_CLIENT, sub: CODE_CLIENT, aud: server.issuer } });
  });

  it('the assertions the server received verify with jose against the JWKS the broker publishes now', async () => {
    const set = createLocalJWKSet((await (await fetch(jwksUri)).json()) as { keys: [] });
    const current = (await api<KeyRingView>('GET', '/keys')).json.keys.find((key) => key.status === 'current')!;
    const from = server.clientAssertions.length;
    await refresh('pk-rotate');
    const [assertion] = received(from);
    expect(assertion?.header.kid).toBe(current.kid);
    const { protectedHeader } = await compactVerify(assertion!.jwt, set);
    expect(protectedHeader.kid).toBe(current.kid);
    // A tampered assertion does not verify.
    const [h, p, sig] = assertion!.jwt.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...assertion!.payload, sub: 'someone-else' })).toString('base64url')}.${sig}`;
    await expect(compactVerify(forged, set)).rejects.toThrow();
    expect(p).toBeTruthy();
  });
});
