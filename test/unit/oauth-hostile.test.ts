/**
 * lib/oauth against answers a hostile or broken authorization server sends: oversized and endless bodies,
 * HTML, and discovery documents naming endpoints the URL policy refuses.
 */
import { describe, expect, it } from 'vitest';
import type * as oauth from 'oauth4webapi';
import {
  DiscoveryCache,
  MAX_RESPONSE_BYTES,
  OAuthFailure,
  ResponseTooLargeError,
  boundedFetch,
  buildAuthorizationRequest,
  refreshAccessToken,
  resolveAuthorizationServer,
} from '../../lib/oauth.js';
import { isRevocationEndpointUnknown } from '../../lib/oauth/discovery.js';
import { profileConfig } from '../support/profile-config.js';

const NOW = Date.parse('2026-01-15T10:00:00.000Z');
const AS: oauth.AuthorizationServer = { issuer: 'urn:x', token_endpoint: 'https://as.example/token' };
const REFRESH_TOKEN = 'rt-hostile-0123456789';

/** A body that yields `chunk` forever, counting how much was pulled from it. */
function endless(chunk = new Uint8Array(16 * 1024).fill(0x7b)) {
  const pulled = { bytes: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled.bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      pulled.cancelled = true;
    },
  });
  return { stream, pulled };
}

async function refreshFailure(answer: () => Response): Promise<OAuthFailure> {
  const fetch = (async () => answer()) as unknown as typeof globalThis.fetch;
  try {
    await refreshAccessToken(AS, profileConfig(), REFRESH_TOKEN, { now: NOW, clientSecret: 'cs-secret-value', fetch });
  } catch (error) {
    return error as OAuthFailure;
  }
  throw new Error('expected a failure');
}

describe('boundedFetch', () => {
  it('passes an answer within the limit through unchanged', async () => {
    const fetch = boundedFetch((async () => new Response('{"ok":true}', { status: 201, headers: { 'x-a': '1' } })) as typeof globalThis.fetch);
    const response = await fetch('https://as.example/');
    expect(response.status).toBe(201);
    expect(response.headers.get('x-a')).toBe('1');
    expect(await response.json()).toEqual({ ok: true });
  });

  it('refuses a declared Content-Length over 64 KiB without reading the body', async () => {
    const { stream, pulled } = endless();
    const fetch = boundedFetch((async () => new Response(stream, { headers: { 'content-length': String(64 * 1024 * 1024) } })) as typeof globalThis.fetch);
    await expect(fetch('https://as.example/')).rejects.toBeInstanceOf(ResponseTooLargeError);
    expect(pulled.cancelled).toBe(true);
  });

  it('stops reading an endless body just past 64 KiB and cancels it', async () => {
    // Prepare
    const { stream, pulled } = endless();
    const fetch = boundedFetch((async () => new Response(stream)) as typeof globalThis.fetch);

    // Act
    const response = await fetch('https://as.example/');
    const outcome = await response.text().catch((error: unknown) => error);

    // Assess
    expect(outcome).toBeInstanceOf(ResponseTooLargeError);
    expect(pulled.cancelled).toBe(true);
    expect(pulled.bytes).toBeLessThan(MAX_RESPONSE_BYTES + 4 * 16 * 1024);
  });
});

describe('token responses a hostile server sends', () => {
  it('an endless token response is invalid_response, read no further than the limit', async () => {
    const { stream, pulled } = endless();
    const failure = await refreshFailure(() => new Response(stream, { headers: { 'content-type': 'application/json' } }));
    expect(failure).toBeInstanceOf(OAuthFailure);
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
    expect(failure.message).toMatch(/larger than 64 KiB/);
    expect(pulled.bytes).toBeLessThan(MAX_RESPONSE_BYTES + 4 * 16 * 1024);
  });

  it('a 64 MiB JSON token response is refused, never stored', async () => {
    const huge = JSON.stringify({ access_token: 'a'.repeat(64 * 1024 * 1024), token_type: 'Bearer', expires_in: 60 });
    const failure = await refreshFailure(() => new Response(huge, { headers: { 'content-type': 'application/json' } }));
    expect(failure).toMatchObject({ code: 'invalid_response' });
  });

  it('an HTML 200 is invalid_response with a fixed sentence: nothing of the page is reflected', async () => {
    const page = '<html><body><h1>Sign in</h1><script>steal()</script>PAGE-MARKER-91</body></html>';
    const failure = await refreshFailure(() => new Response(page, { headers: { 'content-type': 'text/html' } }));
    expect(failure).toMatchObject({ code: 'invalid_response', kind: 'passing' });
    expect(failure.message).toBe('The token endpoint did not answer with JSON.');
  });

  it('a body that stops arriving is cut off by the timeout, as network_error', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"access_token":'));
      },
    });
    // The injected fetch honours the signal as fetch does: the body errors when it aborts.
    const fetch = (async (_: unknown, init?: RequestInit) => {
      const reader = stalled.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const aborted = new Promise<never>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
          const next = await Promise.race([reader.read(), aborted]);
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
      });
      return new Response(body, { headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof globalThis.fetch;
    const failure = await refreshAccessToken(AS, profileConfig(), REFRESH_TOKEN, { now: NOW, clientSecret: 'cs-secret-value', fetch, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'network_error', kind: 'passing' });
  });

  it('a token endpoint the policy refuses is never asked', async () => {
    let asked = 0;
    const fetch = (async () => {
      asked += 1;
      return new Response('{}');
    }) as unknown as typeof globalThis.fetch;
    const cloud = await refreshAccessToken({ issuer: 'urn:x', token_endpoint: 'http://127.0.0.1:9001/token' }, profileConfig(), REFRESH_TOKEN, {
      now: NOW,
      clientSecret: 'cs-secret-value',
      fetch,
    }).catch((e: unknown) => e);
    expect(cloud).toMatchObject({ code: 'invalid_configuration', kind: 'error' });
    expect(asked).toBe(0);
  });
});

describe('discovery documents naming endpoints the URL policy refuses', () => {
  const ISSUER = 'https://as.example';
  const metadata = (overrides: Record<string, unknown>) => ({
    issuer: ISSUER,
    authorization_endpoint: 'https://as.example/authorize',
    token_endpoint: 'https://as.example/token',
    ...overrides,
  });
  const serving = (body: unknown) =>
    (async () => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })) as unknown as typeof globalThis.fetch;

  it.each([
    ['authorization_endpoint', 'file:///C:/Users/Public/setup.exe'],
    ['authorization_endpoint', 'javascript:alert(document.cookie)'],
    ['token_endpoint', 'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next'],
    ['token_endpoint', 'https://169.254.169.254/latest/api/token'],
    ['revocation_endpoint', 'https://10.0.0.8/revoke'],
  ])('refuses a document whose %s is %s, naming the field and not the value', async (field, value) => {
    // Act
    const failure = await resolveAuthorizationServer(profileConfig({ issuer: ISSUER, authorizationUrl: null, tokenUrl: null }), {
      fetch: serving(metadata({ [field]: value })),
      cache: new DiscoveryCache(),
      now: NOW,
    }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(OAuthFailure);
    expect(failure).toMatchObject({ code: 'invalid_configuration', kind: 'error' });
    expect((failure as Error).message).toContain(field);
    expect((failure as Error).message).not.toContain(value);
  });

  it.each([
    ['revocation_endpoint', 'http://as.example/revoke', { revocationUrl: 'https://as.example/revoke' }],
    ['authorization_endpoint', 'file:///C:/Users/Public/setup.exe', { authorizationUrl: 'https://as.example/authorize' }],
  ])('does not refuse a document for a %s the profile sets itself (%s): the profile\'s own URL is used', async (field, value, own) => {
    // Act
    const as = await resolveAuthorizationServer(profileConfig({ issuer: ISSUER, authorizationUrl: null, tokenUrl: null, revocationUrl: null, ...own }), {
      fetch: serving(metadata({ [field]: value })),
      cache: new DiscoveryCache(),
      now: NOW,
      needRevocation: true,
    });

    // Assess
    expect(as.token_endpoint).toBe('https://as.example/token');
    expect(as[field as 'revocation_endpoint' | 'authorization_endpoint']).toBe(Object.values(own)[0]);
  });

  it('records a revocation endpoint whose discovery failed as unknown, not as none', async () => {
    // Prepare: the issuer fails; the token endpoint is the profile's own and answers.
    const asked: string[] = [];
    const fetch = (async (url: URL | string) => {
      asked.push(String(url));
      if (String(url).includes('/.well-known/')) return new Response('unavailable', { status: 503 });
      return new Response(JSON.stringify({ access_token: 'at-new-value', token_type: 'Bearer', expires_in: 3600 }), { headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof globalThis.fetch;
    const config = profileConfig({ issuer: ISSUER, tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/authorize', revocationUrl: null });

    // Act
    const as = await resolveAuthorizationServer(config, { fetch, cache: new DiscoveryCache(), now: NOW, needRevocation: true });
    const tokens = await refreshAccessToken(as, config, REFRESH_TOKEN, { now: NOW, clientSecret: 'cs-secret-value', fetch });

    // Assess: discovery was tried, the grant went ahead, and the set does not claim "no revocation endpoint"
    // (revocation falls back to the profile's endpoint on the token endpoint's origin).
    expect(asked.filter((url) => url.includes('/.well-known/')).length).toBeGreaterThan(0);
    expect(isRevocationEndpointUnknown(as)).toBe(true);
    expect(tokens.accessToken).toBe('at-new-value');
    expect(tokens).not.toHaveProperty('revocationEndpoint');
  });

  it('keeps the revocation endpoint recorded with the refreshed set when the issuer cannot be discovered now', async () => {
    // Prepare
    const fetch = (async (url: URL | string) =>
      String(url).includes('/.well-known/')
        ? new Response('unavailable', { status: 503 })
        : new Response(JSON.stringify({ access_token: 'at-kept-endpoint', token_type: 'Bearer', expires_in: 3600 }), { headers: { 'content-type': 'application/json' } })) as unknown as typeof globalThis.fetch;
    const config = profileConfig({ issuer: ISSUER, tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/authorize', revocationUrl: null });
    const as = await resolveAuthorizationServer(config, { fetch, cache: new DiscoveryCache(), now: NOW, needRevocation: true });

    // Act
    const tokens = await refreshAccessToken(as, config, REFRESH_TOKEN, { now: NOW, clientSecret: 'cs-secret-value', fetch }, 'https://as.example/revoke');

    // Assess
    expect(tokens.revocationEndpoint).toBe('https://as.example/revoke');
  });

  it('remembers a best-effort discovery failure only for best-effort lookups: a discovery the profile needs asks the issuer again', async () => {
    // Prepare: the issuer fails once, then answers.
    let asked = 0;
    const fetch = (async () => {
      asked += 1;
      return asked <= 2 ? new Response('unavailable', { status: 503 }) : new Response(JSON.stringify(metadata({})), { headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof globalThis.fetch;
    const cache = new DiscoveryCache();
    const withEndpoints = profileConfig({ issuer: ISSUER, tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/authorize', revocationUrl: null });
    const issuerOnly = profileConfig({ issuer: ISSUER, tokenUrl: null, authorizationUrl: null });

    // Act: the best-effort lookup of a revocation endpoint fails (both documents), then a required one runs.
    const optional = await resolveAuthorizationServer(withEndpoints, { fetch, cache, now: NOW, needRevocation: true });
    const required = await resolveAuthorizationServer(issuerOnly, { fetch, cache, now: NOW + 1000 });

    // Assess
    expect(isRevocationEndpointUnknown(optional)).toBe(true);
    expect(required.token_endpoint).toBe('https://as.example/token');
    expect(asked).toBe(3);
  });

  it('records "none" when discovery succeeded and the issuer publishes no revocation endpoint', async () => {
    const config = profileConfig({ issuer: ISSUER, tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/authorize', revocationUrl: null });
    const as = await resolveAuthorizationServer(config, { fetch: serving(metadata({})), cache: new DiscoveryCache(), now: NOW, needRevocation: true });
    expect(isRevocationEndpointUnknown(as)).toBe(false);
    expect(as.revocation_endpoint).toBeUndefined();
  });

  it('in local mode accepts loopback http: endpoints from a loopback issuer', async () => {
    const issuer = 'http://127.0.0.1:8788';
    const as = await resolveAuthorizationServer(profileConfig({ issuer, authorizationUrl: null, tokenUrl: null }), {
      fetch: serving({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token` }),
      urlPolicy: 'local',
    });
    expect(as.authorization_endpoint).toBe(`${issuer}/auth`);
  });

  it('never builds an authorization URL on a file: endpoint, even one stored before the rule', async () => {
    const failure = await buildAuthorizationRequest({ issuer: 'urn:x', authorization_endpoint: 'file:///tmp/setup.exe' }, profileConfig(), 'https://b/callback').catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'invalid_configuration', kind: 'error' });
  });

  it('uses PKCE for a public client stored with usePkce false', async () => {
    const request = await buildAuthorizationRequest({ issuer: 'urn:x', authorization_endpoint: 'https://as.example/authorize' }, profileConfig({ clientAuthMethod: 'none', usePkce: false }), 'https://b/callback');
    expect(request.codeVerifier).toEqual(expect.any(String));
    expect(request.url.searchParams.get('code_challenge_method')).toBe('S256');
  });
});
