import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerApiError, TokenClient } from '../../../lib/sdk/index.js';
import { deferred, errorBody, startFakeServer, tokenBody, type FakeServer } from './fake-broker.js';

let broker: FakeServer;
let issued: number;

beforeEach(async () => {
  issued = 0;
  broker = await startFakeServer((request) => {
    if (request.method === 'GET' && /\/profiles\/[^/]+\/token$/.test(request.path)) {
      issued += 1;
      return { status: 200, body: tokenBody(`token-${issued}`), headers: { 'cache-control': 'no-store' } };
    }
    return { status: 404, body: errorBody('not_found', 'No such route.') };
  });
});

afterEach(async () => {
  await broker.close();
});

describe('TokenClient.getToken', () => {
  it('asks the contract route with minValiditySeconds and maps the answer', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    const token = await client.getToken('erp', { minValiditySeconds: 120 });

    expect(token.accessToken).toBe('token-1');
    expect(token.tokenType).toBe('Bearer');
    expect(token.scope).toBe('api.read');
    expect(token.expiresAt).toBeInstanceOf(Date);
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(broker.requests).toHaveLength(1);
    expect(broker.requests[0]?.path).toBe('/profiles/erp/token');
    expect(broker.requests[0]?.query.get('minValiditySeconds')).toBe('120');
  });

  it('defaults minValiditySeconds to 60 and keeps a stage path of the base URL', async () => {
    const client = new TokenClient({ baseUrl: `${broker.url}/prod/` });
    await client.getToken('erp');
    expect(broker.requests[0]?.path).toBe('/prod/profiles/erp/token');
    expect(broker.requests[0]?.query.get('minValiditySeconds')).toBe('60');
  });

  it('encodes the profile id into the path', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    await client.getToken('a/b c');
    expect(broker.requests[0]?.path).toBe('/profiles/a%2Fb%20c/token');
  });

  it('serves a cached token while it satisfies minValiditySeconds', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    const first = await client.getToken('erp');
    const second = await client.getToken('erp');
    const third = await client.getToken('erp', { minValiditySeconds: 3000 });

    expect(second.accessToken).toBe(first.accessToken);
    expect(third.accessToken).toBe(first.accessToken);
    expect(broker.requests).toHaveLength(1);
  });

  it('keeps one cache entry per profile', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    const a = await client.getToken('a');
    const b = await client.getToken('b');
    expect(a.accessToken).not.toBe(b.accessToken);
    expect((await client.getToken('a')).accessToken).toBe(a.accessToken);
    expect(broker.requests.map((r) => r.path)).toEqual(['/profiles/a/token', '/profiles/b/token']);
  });

  it('asks again when the cached token is not valid for the requested minValiditySeconds', async () => {
    broker.setHandler(() => {
      issued += 1;
      return { status: 200, body: tokenBody(`token-${issued}`, 120) };
    });
    const client = new TokenClient({ baseUrl: broker.url });
    expect((await client.getToken('erp', { minValiditySeconds: 60 })).accessToken).toBe('token-1');
    expect((await client.getToken('erp', { minValiditySeconds: 60 })).accessToken).toBe('token-1');
    expect((await client.getToken('erp', { minValiditySeconds: 300 })).accessToken).toBe('token-2');
    expect(broker.requests).toHaveLength(2);
    expect(broker.requests[1]?.query.get('minValiditySeconds')).toBe('300');
  });

  it('asks again once the cached token has aged below minValiditySeconds (injected clock)', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    broker.setHandler(() => {
      issued += 1;
      return { status: 200, body: tokenBody(`token-${issued}`, 3600, now) };
    });
    const client = new TokenClient({ baseUrl: broker.url, clock: () => now });
    expect((await client.getToken('erp')).accessToken).toBe('token-1');
    now += 3500_000; // 100 s left
    expect((await client.getToken('erp')).accessToken).toBe('token-1');
    now += 50_000; // 50 s left < 60
    expect((await client.getToken('erp')).accessToken).toBe('token-2');
    expect(broker.requests).toHaveLength(2);
  });

  it('coalesces 10 concurrent calls for one profile into one request', async () => {
    const gate = deferred();
    broker.setHandler(async () => {
      issued += 1;
      await gate.promise;
      return { status: 200, body: tokenBody(`token-${issued}`) };
    });
    const client = new TokenClient({ baseUrl: broker.url });
    const calls = Array.from({ length: 10 }, () => client.getToken('erp'));
    await expect.poll(() => broker.requests.length).toBe(1);
    gate.resolve();
    const tokens = await Promise.all(calls);

    expect(new Set(tokens.map((t) => t.accessToken))).toEqual(new Set(['token-1']));
    expect(broker.requests).toHaveLength(1);
  });

  it('shares one failure among coalesced calls and asks again afterwards', async () => {
    const gate = deferred();
    broker.setHandler(async () => {
      await gate.promise;
      return { status: 503, body: errorBody('temporarily_unavailable', 'Try later.'), headers: { 'retry-after': '7' } };
    });
    const client = new TokenClient({ baseUrl: broker.url });
    const calls = Array.from({ length: 5 }, () => client.getToken('erp').catch((e: unknown) => e));
    await expect.poll(() => broker.requests.length).toBe(1);
    gate.resolve();
    const errors = await Promise.all(calls);
    expect(errors.every((e) => e instanceof BrokerApiError && e.code === 'temporarily_unavailable')).toBe(true);
    expect(broker.requests).toHaveLength(1);

    broker.setHandler(() => ({ status: 200, body: tokenBody('later') }));
    expect((await client.getToken('erp')).accessToken).toBe('later');
    expect(broker.requests).toHaveLength(2);
  });

  it('refuses a minValiditySeconds out of 0..3600 without asking the broker', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    await expect(client.getToken('erp', { minValiditySeconds: 3601 })).rejects.toThrow(RangeError);
    await expect(client.getToken('erp', { minValiditySeconds: 1.5 })).rejects.toThrow(RangeError);
    expect(broker.requests).toHaveLength(0);
  });

  it('invalidate() drops the cache', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    await client.getToken('erp');
    client.invalidate('erp');
    expect((await client.getToken('erp')).accessToken).toBe('token-2');
    client.invalidate();
    expect((await client.getToken('erp')).accessToken).toBe('token-3');
  });
});

describe('TokenClient error mapping', () => {
  const failWith = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    broker.setHandler(() => ({ status, body, headers }));

  it('maps 404 not_found', async () => {
    failWith(404, errorBody('not_found', 'Profile "erp" does not exist.'));
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'Profile "erp" does not exist.', retryAfterSeconds: undefined });
  });

  it('maps 409 authorization_required', async () => {
    failWith(409, errorBody('authorization_required', 'Profile "erp" has no grant: open its authorization URL.'));
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409, code: 'authorization_required', message: 'Profile "erp" has no grant: open its authorization URL.' });
  });

  it('maps 503 temporarily_unavailable with Retry-After', async () => {
    failWith(503, errorBody('temporarily_unavailable', 'No valid token right now.'), { 'retry-after': '30' });
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, code: 'temporarily_unavailable', retryAfterSeconds: 30 });
  });

  it('derives a code from the status when the body is not the contract (API Gateway 403)', async () => {
    failWith(403, { message: 'Missing Authentication Token' });
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 403, code: 'forbidden', message: 'Missing Authentication Token' });
  });

  it('maps a non-JSON error body', async () => {
    failWith(502, 'Bad Gateway');
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: 'internal_error' });
  });

  it('refuses a 200 that is not the contract', async () => {
    failWith(200, { token: 'x' });
    const error = await new TokenClient({ baseUrl: broker.url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_response' });
  });

  it('maps an unreachable broker to network_error with status 0', async () => {
    const url = broker.url;
    await broker.close();
    const error = await new TokenClient({ baseUrl: url }).getToken('erp').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerApiError);
    expect(error).toMatchObject({ status: 0, code: 'network_error' });
    expect((error as Error).message).toContain(url);
    broker = await startFakeServer(() => ({ status: 404 })); // for afterEach
  });
});
