/**
 * The test suite's oidc-provider (test/support/oidc-server.ts) in its own process, standing for a remote
 * authorization server. One confidential client (client_secret_basic, PKCE required, refresh tokens
 * rotated). Sends `{ ready: {...} }` once listening; answers `grantCount`, `grantErrors`, `usage`, and
 * `consent` (logs in and consents programmatically for an authorization URL, returning the redirect to the
 * client with `code` and `state`: the browser's part, done here so the benchmark process stays lean).
 */
// oidc-provider ships no type declarations.
// @ts-expect-error -- untyped deep import
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { completeConsentProgrammatically } from '../../../test/support/consent.js';
import { startOidcServer } from '../../../test/support/oidc-server.js';

// oidc-provider's default memory adapter keeps its models in an LRU of 1,000 entries per provider. Every
// authorization stores about ten (interaction, session, code, grant, tokens…), so past ~100 grants it forgets
// the oldest refresh tokens and answers invalid_grant. The harness offers no adapter option, so here the
// LRU's methods are replaced by an unbounded map with the same expiry rule, for every grant the benchmark
// makes. (The test suite, with a few grants per server, is not affected.)
{
  type Entry = { value: unknown; expiry: number | undefined };
  const maps = new WeakMap<object, Map<unknown, Entry>>();
  const mapOf = (lru: object) => {
    let map = maps.get(lru);
    if (!map) maps.set(lru, (map = new Map()));
    return map;
  };
  const live = (map: Map<unknown, Entry>, key: unknown): Entry | undefined => {
    const entry = map.get(key);
    if (entry && entry.expiry !== undefined && entry.expiry <= Date.now()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  };
  Object.defineProperties((LRU as { prototype: object }).prototype, {
    get: { value(this: object, key: unknown) { return live(mapOf(this), key)?.value; } },
    has: { value(this: object, key: unknown) { return live(mapOf(this), key) !== undefined; } },
    set: {
      value(this: object, key: unknown, value: unknown, { maxAge }: { maxAge?: number } = {}) {
        const expiry = typeof maxAge === 'number' && maxAge !== Number.POSITIVE_INFINITY ? Date.now() + maxAge : undefined;
        mapOf(this).set(key, { value, expiry });
        return this;
      },
    },
    delete: { value(this: object, key: unknown) { return mapOf(this).delete(key); } },
    clear: { value(this: object) { mapOf(this).clear(); } },
    size: { get(this: object) { return mapOf(this).size; } },
  });
}

export const BENCH_CLIENT = { clientId: 'bench-code', clientSecret: 'bench-code-secret-0123456789abcdef' };

const callbackUrl = process.env.BENCH_CALLBACK_URL ?? 'https://broker.bench.test/callback';
const server = await startOidcServer({
  clients: [{ ...BENCH_CLIENT, authMethod: 'client_secret_basic', redirectUris: [callbackUrl] }],
  pkceRequired: true,
  rotateRefreshToken: true,
  accessTokenTtlSeconds: 3600,
});

process.send?.({
  ready: {
    issuer: server.issuer,
    tokenEndpoint: server.tokenEndpoint,
    authorizationEndpoint: server.authorizationEndpoint,
    ...BENCH_CLIENT,
  },
});

process.on('message', (message: { id: number; op: string; grantType?: string; url?: string; login?: string }) => {
  let value: unknown;
  switch (message.op) {
    case 'consent':
      completeConsentProgrammatically(message.url ?? '', { login: message.login ?? 'bench-user' }).then(
        (redirect) => process.send?.({ id: message.id, value: redirect }),
        (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
      return;
    case 'grantCount':
      value = server.grantCount(message.grantType ?? 'refresh_token');
      break;
    case 'grantErrors':
      value = server.tokenRequests.filter((r) => r.grantType === (message.grantType ?? 'refresh_token') && r.status !== 200).length;
      break;
    case 'usage': {
      const cpu = process.cpuUsage();
      value = { cpuMs: (cpu.user + cpu.system) / 1000, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
      break;
    }
    default:
      process.send?.({ id: message.id, error: `unknown op ${message.op}` });
      return;
  }
  process.send?.({ id: message.id, value });
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
