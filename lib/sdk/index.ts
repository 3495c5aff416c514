/**
 * The consumer SDK of the OAuth broker, published as `@oauth-broker/sdk` (packages/sdk builds it from
 * here): `TokenClient` fetches a profile's current access token (SigV4 in AWS, unsigned against local
 * mode), caches it and coalesces concurrent requests; `oauthFetch` calls an OAuth-protected API with it
 * and retries once on 401. Requests to the broker never follow a redirect, and an `http:` base URL is
 * accepted only on loopback (docs/api.md "Trust rules").
 *
 * @example
 * ```ts
 * import { TokenClient, createOAuthFetch } from '@oauth-broker/sdk';
 *
 * const client = new TokenClient({ baseUrl: process.env.BROKER_URL ?? 'http://127.0.0.1:8787' });
 * const erpFetch = createOAuthFetch(client, 'erp');
 * const response = await erpFetch('https://erp.example.com/api/orders');
 * ```
 *
 * @packageDocumentation
 */
export {
  TokenClient,
  createOAuthFetch,
  DEFAULT_MIN_VALIDITY_SECONDS,
  MAX_MIN_VALIDITY_SECONDS,
  type AccessToken,
  type GetTokenOptions,
  type TokenClientOptions,
  type TokenResponse,
} from './token-client.js';
export { BrokerApiError, isBrokerApiError, type BrokerErrorCode } from './errors.js';
export {
  isLoopbackUrl,
  regionFromExecuteApiUrl,
  type AwsCredentials,
  type AwsCredentialsProvider,
  type SigningOptions,
} from './signing.js';
export type { FetchLike } from './transport.js';
