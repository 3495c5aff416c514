/**
 * The console server of `oauth-broker console` (lib/console/server.ts) on loopback, with a recording
 * stand-in for the API: what it forwards and how, what it answers itself, what it refuses. The signed
 * path through a SigV4-verifying gateway is tested in test/e2e/console.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConsoleServer, type ConsoleServer } from '../../../lib/console/server.js';
import { rawRequest } from '../../integration/local/support.js';

interface Forwarded {
  method: string;
  path: string;
  body: string | undefined;
}

let server: ConsoleServer;
let forwarded: Forwarded[];
let answer: () => Response;

beforeEach(async () => {
  forwarded = [];
  answer = () => new Response(JSON.stringify({ profiles: [] }), { status: 200, headers: { 'content-type': 'application/json' } });
  server = createConsoleServer({
    forward: async (method, path, request) => {
      forwarded.push({ method, path, body: request.body });
      return answer();
    },
    apiUrl: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod',
    mode: 'remote',
    callbackUrl: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/callback',
  });
  await server.listen(0);
});

afterEach(() => server.close());

describe('the console server', () => {
  it('forwards the console\'s calls with their bodies and passes the answer on, 204 included', async () => {
    answer = () => new Response(JSON.stringify({ error: 'invalid_request', message: 'tokenUrl must be an https: URL' }), {
      status: 400,
      headers: { 'content-type': 'application/json', 'retry-after': '7', 'set-cookie': 'a=b' },
    });
    const put = await rawRequest(`${server.url}/profiles/erp`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"clientId":"c"}' });
    expect(put.status).toBe(400);
    expect(JSON.parse(put.body)).toEqual({ error: 'invalid_request', message: 'tokenUrl must be an https: URL' });
    expect(put.headers['retry-after']).toBe('7');
    // Only the headers the console needs come back: nothing of the API's own (cookies…).
    expect(put.headers['set-cookie']).toBeUndefined();
    expect(put.headers['cache-control']).toBe('no-store');

    answer = () => new Response(null, { status: 204 });
    const deleted = await rawRequest(`${server.url}/profiles/erp`, { method: 'DELETE', headers: { 'Sec-Fetch-Site': 'same-origin' } });
    expect(deleted.status).toBe(204);
    expect(forwarded).toEqual([
      { method: 'PUT', path: '/profiles/erp', body: '{"clientId":"c"}' },
      { method: 'DELETE', path: '/profiles/erp', body: undefined },
    ]);
  });

  it('answers 502 with the reason when the API cannot be called (no credentials, no region, no network)', async () => {
    await server.close();
    server = createConsoleServer({
      forward: () => Promise.reject(new Error('No AWS credentials to sign the request with (no profile).')),
      apiUrl: 'https://api.example',
      mode: 'remote',
      callbackUrl: null,
    });
    await server.listen(0);
    const failed = await rawRequest(`${server.url}/profiles`);
    expect(failed.status).toBe(502);
    expect(JSON.parse(failed.body)).toEqual({
      error: 'bad_gateway',
      message: 'The console server could not call the API: No AWS credentials to sign the request with (no profile).',
    });
  });

  it('serves the page and its files, tells the page where it is connected, redirects / there', async () => {
    const root = await rawRequest(`${server.url}/`);
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/console');
    const head = await rawRequest(`${server.url}/console`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-security-policy']).toContain("script-src 'self'");
    const config = await rawRequest(`${server.url}/console/config.json`);
    expect(JSON.parse(config.body)).toEqual({
      mode: 'remote',
      apiUrl: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod',
      callbackUrl: 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/callback',
    });
    expect((await rawRequest(`${server.url}/console/..%2Fpackage.json`)).status).toBe(404);
    expect((await rawRequest(`${server.url}/console`, { method: 'POST' })).status).toBe(400);
    expect(forwarded).toEqual([]);
  });

  it('forwards nothing but the console\'s own routes, and refuses bodies over 64 KiB unread', async () => {
    for (const [method, path] of [
      ['GET', '/profiles/erp/token'],
      ['GET', '/callback'],
      ['POST', '/profiles'],
      ['PATCH', '/profiles/erp'],
      ['GET', '/jwks'],
    ] as const) {
      expect((await rawRequest(`${server.url}${path}`, { method })).status).toBe(404);
    }
    const big = await rawRequest(`${server.url}/profiles/erp`, { method: 'PUT', body: 'x'.repeat(65 * 1024), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(400);
    expect(forwarded).toEqual([]);
  });
});
