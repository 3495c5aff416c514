/**
 * The SDK's transport keeps its credentials on the way to the broker: a redirect is never
 * followed (the attacker's server must receive nothing), and a base URL that would send signed requests
 * and tokens in clear text is refused before any request.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerApiError, TokenClient, type FetchLike } from '../../../lib/sdk/index.js';
import { startFakeServer, tokenBody, type FakeServer } from './fake-broker.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'SECRET', sessionToken: 'SESSION-TOKEN' };
const PUBLIC_BASE = 'https://broker.example.com/prod';

let broker: FakeServer;
let attacker: FakeServer;

beforeEach(async () => {
  attacker = await startFakeServer(() => ({ status: 200, body: tokenBody('stolen') }));
  broker = await startFakeServer(() => ({ status: 302, headers: { location: `${attacker.url}/collect` } }));
});

afterEach(async () => {
  await broker.close();
  await attacker.close();
});

/** The real fetch, with the public broker's origin sent to the loopback fake: requests are signed as in AWS. */
function toFakeBroker(): FetchLike {
  return (input, init) => globalThis.fetch(String(input).replace('https://broker.example.com', broker.url), init);
}

describe('redirects', () => {
  it.each([301, 302, 307, 308])('a %i from the broker is an error and the redirect target receives nothing', async (status) => {
    broker.setHandler(() => ({ status, headers: { location: `${attacker.url}/collect` } }));
    const client = new TokenClient({ baseUrl: PUBLIC_BASE, region: 'eu-central-1', credentials, fetch: toFakeBroker() });

    const error = await client.getToken('erp').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BrokerApiError);
    expect(error).toMatchObject({ status, code: 'invalid_response' });
    expect((error as Error).message).toContain(`redirect to ${attacker.url}`);
    expect((error as Error).message).not.toContain('SESSION-TOKEN');
    // The broker got the signed request; the attacker got no request at all, so no Authorization or X-Amz-*.
    expect(broker.requests).toHaveLength(1);
    expect(broker.requests[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    expect(broker.requests[0]?.headers['x-amz-security-token']).toBe('SESSION-TOKEN');
    expect(attacker.requests).toEqual([]);
  });

  it('also against a loopback broker (unsigned, local mode)', async () => {
    const client = new TokenClient({ baseUrl: broker.url });
    await expect(client.getToken('erp')).rejects.toMatchObject({ status: 302, code: 'invalid_response' });
    expect(attacker.requests).toEqual([]);
  });
});

describe('base URLs', () => {
  it.each(['http://broker.example.com/prod', 'http://10.0.0.8:8787', 'http://abc123.execute-api.eu-central-1.amazonaws.com/prod'])(
    'refuses %s: http: off loopback, before any request',
    async (baseUrl) => {
      const requests: string[] = [];
      const fetch: FetchLike = (input) => {
        requests.push(String(input));
        return Promise.resolve(new Response('{}'));
      };
      expect(() => new TokenClient({ baseUrl, credentials, fetch })).toThrow(/must be an https: URL \(http: only for a broker on loopback/);
      expect(requests).toEqual([]);
    },
  );

  it.each(['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787', 'https://broker.example.com/prod'])('accepts %s', (baseUrl) => {
    expect(new TokenClient({ baseUrl, credentials }).baseUrl).toBe(new URL(baseUrl).href);
  });
});
