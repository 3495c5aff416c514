/**
 * The consumer SDK: fetch a profile's current access token from the broker (`GET /profiles/{id}/token`)
 * and call OAuth-protected APIs with it, the seed's "HTTP Authentication type OAuth".
 */
import { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS, type TokenResponse } from '../shared.js';
import { BrokerApiError } from './errors.js';
import type { SigningOptions } from './signing.js';
import { BrokerTransport, type FetchLike } from './transport.js';

/** docs/api.md: `minValiditySeconds` is 0..3600, default 60. */
export { DEFAULT_MIN_VALIDITY_SECONDS, MAX_MIN_VALIDITY_SECONDS };

export type { TokenResponse };

export interface TokenClientOptions extends SigningOptions {
  /**
   * The broker's base URL: the API Gateway stage URL (the `ApiUrl` output of `cdk deploy`, e.g.
   * `https://abc123.execute-api.eu-central-1.amazonaws.com/prod`), or `http://127.0.0.1:8787` for local
   * mode. Requests are SigV4-signed unless the host is `127.0.0.1`, `localhost` or `[::1]`.
   */
  baseUrl: string | URL;
  /**
   * The `fetch` used for the broker and by {@link TokenClient.oauthFetch}. Default: `globalThis.fetch`.
   */
  fetch?: FetchLike;
  /** Milliseconds since the epoch, for the cache's validity checks. Default: `Date.now`. */
  clock?: () => number;
}

export interface GetTokenOptions {
  /**
   * How many seconds the returned token must stay valid at least (0..3600, default 60). A cached token
   * valid for less is not used; the broker refreshes first when its own token is valid for less.
   */
  minValiditySeconds?: number;
}

/** An access token as held by the broker. Never a refresh token. */
export interface AccessToken {
  accessToken: string;
  /** The token type, normally `Bearer`. */
  tokenType: string;
  expiresAt: Date;
  /** The granted scope, space-delimited (may be empty). */
  scope: string;
}

interface CachedToken {
  token: AccessToken;
  /** When the token expires by the local clock: request start + `expires_in`, immune to clock skew. */
  validUntil: number;
}

interface InFlight {
  minValiditySeconds: number;
  promise: Promise<CachedToken>;
}

/**
 * Fetches access tokens from the broker, with an in-memory cache per profile and one request at a
 * time per profile (concurrent calls share it).
 *
 * @example Local mode (`npm start`), unsigned:
 * ```ts
 * import { TokenClient } from '@oauth-broker/sdk';
 *
 * const client = new TokenClient({ baseUrl: 'http://127.0.0.1:8787' });
 * const { accessToken, expiresAt } = await client.getToken('demo');
 * ```
 *
 * @example In AWS, SigV4-signed with the default credential chain (the caller's role needs
 * `execute-api:Invoke` on `…/GET/profiles/erp/token`; `oauth-broker policy erp --role <arn>` prints it):
 * ```ts
 * const client = new TokenClient({ baseUrl: process.env.BROKER_URL! }); // https://<api>.execute-api.<region>.amazonaws.com/prod
 * const response = await client.oauthFetch('erp', 'https://erp.example.com/api/orders?status=open');
 * ```
 */
export class TokenClient {
  readonly #transport: BrokerTransport;
  readonly #fetch: FetchLike;
  readonly #clock: () => number;
  readonly #cache = new Map<string, CachedToken>();
  readonly #inFlight = new Map<string, InFlight>();

  constructor(options: TokenClientOptions) {
    this.#transport = new BrokerTransport(options);
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#clock = options.clock ?? Date.now;
  }

  /** The broker's base URL. */
  get baseUrl(): string {
    return this.#transport.baseUrl.href;
  }

  /** Whether requests to the broker are SigV4-signed (the base URL is not loopback). */
  get signed(): boolean {
    return this.#transport.signed;
  }

  /**
   * The profile's current access token, valid for at least `minValiditySeconds` (default 60).
   * Served from the cache while the cached token is valid that long; otherwise one request to the
   * broker, shared by all concurrent calls for the same profile.
   *
   * @throws {BrokerApiError} `not_found` (404), `authorization_required` (409: a person must authorize
   * the profile first), `temporarily_unavailable` (503, with `retryAfterSeconds`), `forbidden` (403: the
   * caller's IAM identity may not invoke the route), `network_error` (status 0), …
   *
   * @example
   * ```ts
   * const token = await client.getToken('erp', { minValiditySeconds: 300 });
   * await fetch(url, { headers: { authorization: `${token.tokenType} ${token.accessToken}` } });
   * ```
   */
  async getToken(profileId: string, options: GetTokenOptions = {}): Promise<AccessToken> {
    if (typeof profileId !== 'string' || profileId === '') throw new TypeError('profileId must be a non-empty string');
    const minValiditySeconds = options.minValiditySeconds ?? DEFAULT_MIN_VALIDITY_SECONDS;
    if (!Number.isInteger(minValiditySeconds) || minValiditySeconds < 0 || minValiditySeconds > MAX_MIN_VALIDITY_SECONDS) {
      throw new RangeError(`minValiditySeconds must be an integer from 0 to ${MAX_MIN_VALIDITY_SECONDS}`);
    }
    const cached = this.#cache.get(profileId);
    if (cached && this.#satisfies(cached, minValiditySeconds)) return copy(cached.token);

    const pending = this.#inFlight.get(profileId);
    if (pending && pending.minValiditySeconds >= minValiditySeconds) return copy((await pending.promise).token);

    const promise = this.#request(profileId, minValiditySeconds);
    const entry: InFlight = { minValiditySeconds, promise };
    this.#inFlight.set(profileId, entry);
    try {
      return copy((await promise).token);
    } finally {
      if (this.#inFlight.get(profileId) === entry) this.#inFlight.delete(profileId);
    }
  }

  /**
   * Forgets the cached token of `profileId` (of every profile when omitted), so that the next
   * {@link getToken} asks the broker again.
   */
  invalidate(profileId?: string): void {
    if (profileId === undefined) {
      this.#cache.clear();
      this.#inFlight.clear();
    } else {
      this.#cache.delete(profileId);
      this.#inFlight.delete(profileId);
    }
  }

  /**
   * `fetch` with `Authorization: Bearer <the profile's access token>`. When the resource server answers
   * 401, the cached token is dropped, a token is fetched from the broker again and the request is retried
   * once, provided its body can be sent again (any body but a `ReadableStream`, and not a `Request` that
   * carries a body). The second answer is returned whatever it is.
   *
   * @example
   * ```ts
   * const response = await client.oauthFetch('erp', 'https://erp.example.com/api/orders', {
   *   method: 'POST',
   *   headers: { 'content-type': 'application/json' },
   *   body: JSON.stringify({ item: 'A-100', quantity: 5 }),
   * });
   * if (!response.ok) throw new Error(`ERP answered ${response.status}`);
   * ```
   */
  async oauthFetch(profileId: string, input: string | URL | Request, init: RequestInit = {}, options: GetTokenOptions = {}): Promise<Response> {
    const token = await this.getToken(profileId, options);
    const replayable = canReplay(input, init);
    const first = await this.#fetch(input, withAuthorization(input, init, token));
    if (first.status !== 401 || !replayable) return first;
    await first.body?.cancel().catch(() => undefined);
    const current = this.#cache.get(profileId);
    if (current && current.token.accessToken === token.accessToken) this.invalidate(profileId);
    const fresh = await this.getToken(profileId, options);
    return this.#fetch(input, withAuthorization(input, init, fresh));
  }

  #satisfies(cached: CachedToken, minValiditySeconds: number): boolean {
    return cached.validUntil - this.#clock() >= minValiditySeconds * 1000;
  }

  async #request(profileId: string, minValiditySeconds: number): Promise<CachedToken> {
    const startedAt = this.#clock();
    const { body } = await this.#transport.json<TokenResponse>('GET', `/profiles/${encodeURIComponent(profileId)}/token`, {
      query: { minValiditySeconds },
    });
    const entry = toCachedToken(body, startedAt);
    const held = this.#cache.get(profileId);
    if (!held || held.validUntil <= entry.validUntil) this.#cache.set(profileId, entry);
    return entry;
  }
}

/**
 * A `fetch` bound to one profile: {@link TokenClient.oauthFetch} for `profileId`.
 *
 * @example
 * ```ts
 * const erpFetch = createOAuthFetch(new TokenClient({ baseUrl }), 'erp');
 * const orders = await (await erpFetch('https://erp.example.com/api/orders')).json();
 * ```
 */
export function createOAuthFetch(
  client: TokenClient,
  profileId: string,
  options: GetTokenOptions = {},
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return (input, init) => client.oauthFetch(profileId, input, init, options);
}

function toCachedToken(body: TokenResponse, startedAt: number): CachedToken {
  const invalid = (why: string) => new BrokerApiError(200, 'invalid_response', `The broker's token answer is not the contract's: ${why}.`);
  if (!body || typeof body !== 'object') throw invalid('not a JSON object');
  if (typeof body.access_token !== 'string' || body.access_token === '') throw invalid('no access_token');
  const expiresIn = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? body.expires_in : undefined;
  const expiresAtMs = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
  if (expiresIn === undefined && Number.isNaN(expiresAtMs)) throw invalid('neither expires_at nor expires_in');
  const tokenType = typeof body.token_type === 'string' && body.token_type ? body.token_type : 'Bearer';
  return {
    token: {
      accessToken: body.access_token,
      tokenType: tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType,
      expiresAt: new Date(Number.isNaN(expiresAtMs) ? startedAt + (expiresIn as number) * 1000 : expiresAtMs),
      scope: typeof body.scope === 'string' ? body.scope : '',
    },
    validUntil: expiresIn === undefined ? expiresAtMs : startedAt + expiresIn * 1000,
  };
}

function copy(token: AccessToken): AccessToken {
  return { ...token, expiresAt: new Date(token.expiresAt.getTime()) };
}

function canReplay(input: string | URL | Request, init: RequestInit): boolean {
  if (init.body !== undefined && init.body !== null) return !(init.body instanceof ReadableStream);
  return !(input instanceof Request && input.body !== null);
}

function withAuthorization(input: string | URL | Request, init: RequestInit, token: AccessToken): RequestInit {
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers(init.headers).forEach((value, name) => headers.set(name, value));
  headers.set('authorization', `${token.tokenType} ${token.accessToken}`);
  return { ...init, headers };
}
