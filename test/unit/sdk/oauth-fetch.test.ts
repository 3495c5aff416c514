import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerApiError, TokenClient, createOAuthFetch } from '../../../lib/sdk/index.js';
import { errorBody, startFakeServer, tokenBody, type FakeServer } from './fake-broker.js';

let broker: FakeServer;
let resource: FakeServer;
let issued: number;
/** The tokens the resource server accepts. */
let accepted: Set<string>;

beforeEach(async () => {
  issued = 0;
  accepted = new Set();
  broker = await startFakeServer(() => {
    issued += 1;
    return { status: 200, body: tokenBody(`token-${issued}`) };
  });
  resource = await startFakeServer((request) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!token || !accepted.has(token)) {
      return { status: 401, body: { error: 'invalid_token' }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } };
    }
    return { status: 200, body: { ok: true, method: request.method, body: request.body, custom: request.headers['x-custom'] ?? null } };
  });
});

afterEach(async () => {
  await Promise.all([broker.close(), resource.close()]);
});

describe('oauthFetch', () => {
  it('adds Authorization: Bearer <token> and keeps the caller\'s headers', async () => {
    accepted.add('token-1');
    const client = new TokenClient({ baseUrl: broker.url });
    const response = await client.oauthFetch('erp', `${resource.url}/orders`, { headers: { 'x-custom': 'yes' } });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, custom: 'yes' });
    expect(resource.requests[0]?.headers.authorization).toBe('Bearer token-1');
    expect(broker.requests).toHaveLength(1);
  });

  it('uses the cached token for later calls', async () => {
    accepted.add('token-1');
    const client = new TokenClient({ baseUrl: broker.url });
    await client.oauthFetch('erp', `${resource.url}/a`);
    await client.oauthFetch('erp', `${resource.url}/b`);
    expect(broker.requests).toHaveLength(1);
    expect(resource.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-1']);
  });

  it('on 401 drops the cached token, fetches a fresh one and retries once', async () => {
    accepted.add('token-2'); // token-1 was revoked at the resource server
    const client = new TokenClient({ baseUrl: broker.url });
    const response = await client.oauthFetch('erp', `${resource.url}/orders`, { method: 'POST', body: '{"n":1}' });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: 'POST', body: '{"n":1}' });
    expect(broker.requests).toHaveLength(2);
    expect(resource.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    // The fresh token is the cached one now.
    await client.oauthFetch('erp', `${resource.url}/orders`);
    expect(broker.requests).toHaveLength(2);
  });

  it('retries only once: a second 401 is returned', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    const response = await client.oauthFetch('erp', `${resource.url}/orders`);

    expect(response.status).toBe(401);
    expect(resource.requests).toHaveLength(2);
    expect(broker.requests).toHaveLength(2);
  });

  it('does not retry a request whose body is a ReadableStream', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const response = await client.oauthFetch('erp', `${resource.url}/upload`, { method: 'POST', body, duplex: 'half' } as RequestInit);

    expect(response.status).toBe(401);
    expect(resource.requests).toHaveLength(1);
    expect(broker.requests).toHaveLength(1);
  });

  it('keeps the headers of a Request input and retries a body-less Request', async () => {
    accepted.add('token-2');
    const client = new TokenClient({ baseUrl: broker.url });
    const request = new Request(`${resource.url}/orders`, { headers: { 'x-custom': 'from-request' } });
    const response = await client.oauthFetch('erp', request);

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ custom: 'from-request' });
    expect(resource.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('fails with the broker\'s error when no token can be had', async () => {
    broker.setHandler(() => ({ status: 409, body: errorBody('authorization_required', 'Authorize profile "erp" first.') }));
    const client = new TokenClient({ baseUrl: broker.url });
    const error = await client.oauthFetch('erp', `${resource.url}/orders`).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BrokerApiError);
    expect(error).toMatchObject({ status: 409, code: 'authorization_required' });
    expect(resource.requests).toHaveLength(0);
  });

  it('createOAuthFetch binds a profile', async () => {
    accepted.add('token-1');
    const erpFetch = createOAuthFetch(new TokenClient({ baseUrl: broker.url }), 'erp', { minValiditySeconds: 120 });
    const response = await erpFetch(`${resource.url}/orders`);

    expect(response.status).toBe(200);
    expect(broker.requests[0]?.path).toBe('/profiles/erp/token');
    expect(broker.requests[0]?.query.get('minValiditySeconds')).toBe('120');
  });
});
