import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenClient, isLoopbackUrl, regionFromExecuteApiUrl } from '../../../lib/sdk/index.js';
import { resolveRegion } from '../../../lib/sdk/signing.js';
import { startFakeServer, tokenBody, type FakeServer } from './fake-broker.js';

const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };

interface Captured {
  url: string;
  headers: Record<string, string>;
}

/** A `fetch` that records the request and answers a token, never touching the network. */
function capturingFetch(captured: Captured[]) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    captured.push({ url: String(input), headers });
    return new Response(JSON.stringify(tokenBody('signed-token')), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

const DATE = /^\d{8}T\d{6}Z$/;

describe('SigV4 signing', () => {
  it('signs requests to an execute-api URL with the region of its host name', async () => {
    const captured: Captured[] = [];
    const client = new TokenClient({
      baseUrl: 'https://abc123def4.execute-api.eu-central-1.amazonaws.com/prod',
      credentials,
      fetch: capturingFetch(captured),
    });
    const token = await client.getToken('erp');

    expect(token.accessToken).toBe('signed-token');
    expect(client.signed).toBe(true);
    expect(captured).toHaveLength(1);
    const { url, headers } = captured[0]!;
    expect(url).toBe('https://abc123def4.execute-api.eu-central-1.amazonaws.com/prod/profiles/erp/token?minValiditySeconds=60');
    expect(headers['x-amz-date']).toMatch(DATE);
    const day = headers['x-amz-date']!.slice(0, 8);
    expect(headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=AKID/${day}/eu-central-1/execute-api/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`),
    );
    expect(headers.host).toBeUndefined();
    expect(headers['x-amz-security-token']).toBeUndefined();
  });

  it('uses the region option, a credentials provider and sends the session token', async () => {
    const captured: Captured[] = [];
    const client = new TokenClient({
      baseUrl: 'https://broker.example.com/',
      region: 'us-west-2',
      credentials: async () => ({ ...credentials, sessionToken: 'SESSION' }),
      fetch: capturingFetch(captured),
    });
    await client.getToken('erp');

    const { headers } = captured[0]!;
    expect(headers.authorization).toContain('/us-west-2/execute-api/aws4_request');
    expect(headers['x-amz-security-token']).toBe('SESSION');
  });

  it('takes credentials from the default credential chain when none are given', async () => {
    const names = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'SECRETENV' });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    try {
      const captured: Captured[] = [];
      await new TokenClient({ baseUrl: 'https://abc.execute-api.us-east-1.amazonaws.com/prod', fetch: capturingFetch(captured) }).getToken('erp');
      expect(captured[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDENV\/\d{8}\/us-east-1\/execute-api\/aws4_request/);
    } finally {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    }
  });

  it('falls back to AWS_REGION for a custom domain', () => {
    const url = new URL('https://broker.example.com');
    expect(resolveRegion(url, { env: { AWS_REGION: 'ap-southeast-2' } })).toBe('ap-southeast-2');
    expect(resolveRegion(url, { env: { AWS_DEFAULT_REGION: 'sa-east-1' } })).toBe('sa-east-1');
    expect(resolveRegion(url, { env: {} })).toBeUndefined();
    expect(resolveRegion(new URL('https://x1.execute-api.eu-west-1.amazonaws.com/dev'), { env: { AWS_REGION: 'us-east-1' } })).toBe('eu-west-1');
    expect(resolveRegion(url, { region: 'eu-north-1', env: { AWS_REGION: 'us-east-1' } })).toBe('eu-north-1');
  });

  it('fails clearly when no region can be found', async () => {
    const client = new TokenClient({ baseUrl: 'https://broker.example.com', credentials, fetch: capturingFetch([]) });
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      await expect(client.getToken('erp')).rejects.toThrow(/AWS region/);
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });

  it('tells loopback and execute-api URLs apart', () => {
    expect(isLoopbackUrl('http://127.0.0.1:8787')).toBe(true);
    expect(isLoopbackUrl('http://localhost:8787')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:8787')).toBe(true);
    expect(isLoopbackUrl('https://abc.execute-api.eu-west-1.amazonaws.com/prod')).toBe(false);
    expect(regionFromExecuteApiUrl('https://abc.execute-api.eu-west-1.amazonaws.com/prod')).toBe('eu-west-1');
    expect(regionFromExecuteApiUrl('https://broker.example.com/prod')).toBeUndefined();
  });
});

describe('loopback requests', () => {
  let broker: FakeServer;
  beforeEach(async () => {
    broker = await startFakeServer(() => ({ status: 200, body: tokenBody('local') }));
  });
  afterEach(async () => {
    await broker.close();
  });

  it('carry no SigV4 headers, even with credentials configured', async () => {
    const client = new TokenClient({ baseUrl: broker.url, credentials, region: 'eu-west-1' });
    await client.getToken('demo');

    expect(client.signed).toBe(false);
    const headers = broker.requests[0]!.headers;
    expect(headers.authorization).toBeUndefined();
    expect(headers['x-amz-date']).toBeUndefined();
    expect(headers['x-amz-content-sha256']).toBeUndefined();
  });

  it('also for localhost', async () => {
    const port = new URL(broker.url).port;
    const captured: Captured[] = [];
    await new TokenClient({ baseUrl: `http://localhost:${port}`, fetch: capturingFetch(captured) }).getToken('demo');
    expect(captured[0]?.headers.authorization).toBeUndefined();
  });
});
