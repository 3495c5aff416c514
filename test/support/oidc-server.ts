/**
 * A real OAuth 2.0 / OpenID Connect authorization server (`oidc-provider` 9) on loopback, for the
 * broker's integration and end-to-end tests.
 *
 * - issuer `http://127.0.0.1:<free port>`, discovery at `/.well-known/openid-configuration`
 * - endpoints: `/auth`, `/token`, `/token/revocation`, `/token/introspection`, `/me`, `/jwks`
 * - RFC 9207: every authorization response (success and error) carries `iss`; discovery says
 *   `authorization_response_iss_parameter_supported: true` (always on in oidc-provider 9)
 * - devInteractions: any login and any password; consent is a single "Continue" button
 * - refresh tokens are issued only when `offline_access` was granted, and oidc-provider only keeps
 *   `offline_access` in an authorization request that has `prompt=consent`
 *   (or no `prompt` parameter at all)
 * - refresh token rotation (default on): reusing a consumed refresh token answers `invalid_grant`
 *   AND revokes the whole grant (the rotated refresh token dies with it)
 *
 * Loading oidc-provider, its signing key and its loopback server are shared with local mode's demo
 * authorization server (`lib/local/oidc-provider-host.ts`). oidc-provider ships no TypeScript types; the
 * small interfaces below describe what is used here.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  generateSigningKey,
  issueRefreshTokenForOfflineAccess,
  loadOidcProvider,
  startProviderServer,
  type OidcProviderLike,
  type OidcProviderModuleLike,
} from '../../lib/local/oidc-provider-host.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

export interface OidcClientOptions {
  clientId: string;
  clientSecret?: string;
  authMethod: ClientAuthMethod;
  /** `private_key_jwt`: where the server fetches the client's public keys (loopback allowed here). */
  jwksUri?: string;
  redirectUris: string[];
  /** default: `authorization_code` + `refresh_token` (+ `client_credentials` when enabled on the server) */
  grantTypes?: string[];
}

export interface OidcServerOptions {
  clients: OidcClientOptions[];
  /** access token lifetime (`expires_in`), default 3600 */
  accessTokenTtlSeconds?: number;
  /** default true */
  rotateRefreshToken?: boolean;
  /** PKCE required for every client, default true (public clients always need PKCE) */
  pkceRequired?: boolean;
  /**
   * Issue JWT access tokens (RFC 9068) for the default resource `<issuer>/api` (scope `api.read`)
   * instead of opaque ones. Such tokens are not valid at the userinfo endpoint.
   */
  jwtAccessTokens?: boolean;
  /** enable the client_credentials grant */
  clientCredentials?: boolean;
}

export interface CannedTokenResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface TokenRequestRecord {
  grantType: string;
  /** HTTP status answered */
  status: number;
  /** OAuth `error` code of the answer, when it was an OAuth error */
  error?: string;
  /** true when answered by `failTokenEndpoint` instead of the provider */
  injected: boolean;
  clientId?: string;
}

/** A `client_assertion` (RFC 7523) the server received, decoded (not verified here: the server did that). */
export interface ReceivedClientAssertion {
  /** `/token` or `/token/revocation` */
  endpoint: string;
  /** the compact JWS as sent */
  jwt: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `client_assertion_type` sent with it */
  assertionType: string | null;
  /** HTTP status the server answered */
  status: number;
}

export interface OidcServer {
  /** every client assertion received at the token and revocation endpoints, in order */
  readonly clientAssertions: readonly ReceivedClientAssertion[];
  /** `http://127.0.0.1:<port>` (no trailing slash) */
  readonly issuer: string;
  /** resource indicator of the API (audience of JWT access tokens): `<issuer>/api` */
  readonly resource: string;
  readonly tokenEndpoint: string;
  readonly authorizationEndpoint: string;
  readonly revocationEndpoint: string;
  readonly introspectionEndpoint: string;
  /** absolute URL on the server: `url('/token')` */
  url(path: string): string;
  /** token-endpoint requests with this grant_type, successful or not (injected faults included) */
  grantCount(grantType: string): number;
  /** token-endpoint requests with this grant_type answered with this OAuth error (e.g. `invalid_grant`) */
  grantErrorCount(grantType: string, error: string): number;
  /** every token-endpoint request so far, in order */
  readonly tokenRequests: readonly TokenRequestRecord[];
  /** forget counters and records */
  resetCounters(): void;
  /** the next N token-endpoint requests get these canned answers instead (queued, in order) */
  failTokenEndpoint(responses: CannedTokenResponse[]): void;
  /** canned answers not yet used */
  pendingFailures(): number;
  /**
   * Revoke at the server every grant of this client (optionally only the given user's): its
   * refresh tokens, access tokens and codes. A later refresh answers `invalid_grant`.
   * Returns how many grants were revoked.
   */
  revokeGrantsFor(clientId: string, accountId?: string): Promise<number>;
  /** whether the server considers this access token active (opaque: stored and unexpired; JWT: signed here and unexpired) */
  introspect(token: string): Promise<boolean>;
  /** whether this refresh token is still usable (stored, unexpired, not consumed) */
  refreshTokenActive(token: string): Promise<boolean>;
  close(): Promise<void>;
}

// ---- minimal typings for oidc-provider ---------------------------------------------------------

interface KoaContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  req: IncomingMessage & { body?: unknown };
  set(name: string, value: string): void;
}
type KoaNext = () => Promise<void>;

interface StoredToken {
  clientId?: string;
  grantId?: string;
  accountId?: string;
  consumed?: unknown;
  isExpired?: boolean;
}

interface TokenModel {
  find(value: string, options?: { ignoreExpiration?: boolean }): Promise<StoredToken | undefined>;
  revokeByGrantId(grantId: string): Promise<void>;
}

interface GrantModel {
  find(id: string): Promise<{ jti: string; clientId: string; accountId: string } | undefined>;
  adapter: { destroy(id: string): Promise<void> };
}

interface OidcProvider extends OidcProviderLike {
  use(middleware: (ctx: KoaContext, next: KoaNext) => Promise<void>): void;
  AccessToken: TokenModel;
  ClientCredentials: TokenModel;
  RefreshToken: TokenModel;
  AuthorizationCode: TokenModel;
  Grant: GrantModel;
}

interface OidcProviderModule extends OidcProviderModuleLike {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: { InvalidTarget: new (description?: string) => Error };
}

// ---- helpers ------------------------------------------------------------------------------------

async function readRawBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function base64urlJson(part: string): Record<string, unknown> | undefined {
  return parseJsonObject(Buffer.from(part, 'base64url').toString('utf8'));
}

// ---- the server ---------------------------------------------------------------------------------

export async function startOidcServer(options: OidcServerOptions): Promise<OidcServer> {
  const { default: Provider, errors } = await loadOidcProvider<OidcProviderModule>();

  const accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;
  const rotateRefreshToken = options.rotateRefreshToken ?? true;
  const pkceRequired = options.pkceRequired ?? true;
  const jwtAccessTokens = options.jwtAccessTokens ?? false;
  const clientCredentials = options.clientCredentials ?? false;

  // Listen first: the issuer needs the port.
  const host = await startProviderServer(0);
  const { issuer } = host;
  const resource = `${issuer}/api`;

  const { privateKey, jwk } = generateSigningKey('test-rs256');
  const publicKey = createPublicKey(privateKey);

  const clients = options.clients.map((c) => {
    const grantTypes = c.grantTypes
      ?? ['authorization_code', 'refresh_token', ...(clientCredentials && c.authMethod !== 'none' ? ['client_credentials'] : [])];
    const usesCode = grantTypes.includes('authorization_code');
    const metadata: Record<string, unknown> = {
      client_id: c.clientId,
      token_endpoint_auth_method: c.authMethod,
      grant_types: grantTypes,
      response_types: usesCode ? ['code'] : [],
      redirect_uris: usesCode ? c.redirectUris : [],
    };
    if (c.authMethod === 'private_key_jwt') {
      if (!c.jwksUri) throw new Error(`client ${c.clientId}: jwksUri required for private_key_jwt`);
      metadata.jwks_uri = c.jwksUri;
    } else if (c.authMethod !== 'none') {
      if (!c.clientSecret) throw new Error(`client ${c.clientId}: clientSecret required for ${c.authMethod}`);
      metadata.client_secret = c.clientSecret;
    }
    return metadata;
  });

  const resourceServerInfo = {
    scope: 'api.read',
    audience: resource,
    accessTokenTTL: accessTokenTtl,
    accessTokenFormat: jwtAccessTokens ? 'jwt' : 'opaque',
    ...(jwtAccessTokens ? { jwt: { sign: { alg: 'RS256' } } } : {}),
  };

  const provider = new Provider(issuer, {
    clients,
    // The clients' jwks_uri are on loopback, which oidc-provider's SSRF guard (its `dispatcher`) refuses.
    fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _guard, ...rest } = init;
      return fetch(url, rest);
    },
    jwks: { keys: [jwk] },
    cookies: { keys: ['oidc-test-cookie-key-0123456789abcdef'] },
    scopes: ['openid', 'offline_access', 'api.read'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    pkce: { required: () => pkceRequired },
    rotateRefreshToken,
    issueRefreshToken: issueRefreshTokenForOfflineAccess,
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub, email: `${sub}@example.test`, email_verified: true }),
    }),
    ttl: {
      AccessToken: () => accessTokenTtl,
      ClientCredentials: () => accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    clientBasedCORS: () => true,
    renderError: async (ctx: KoaContext, out: Record<string, string>) => {
      ctx.set('content-type', 'text/html; charset=utf-8');
      const esc = (s: string): string => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
      ctx.body = `<!DOCTYPE html><title>oops</title><pre>${Object.entries(out)
        .map(([k, v]) => `${esc(k)}: ${esc(String(v))}`)
        .join('\n')}</pre>`;
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true, allowedPolicy: async () => true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      userinfo: { enabled: true },
      clientCredentials: { enabled: clientCredentials },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string) =>
          oneOf ?? (jwtAccessTokens ? resource : undefined),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
          if (indicator === resource) return resourceServerInfo;
          throw new errors.InvalidTarget();
        },
      },
    },
  });

  // Fault injection and accounting on the token endpoint. The body is read here and handed to
  // oidc-provider as an already parsed body (supported; it only prints a notice, which `loadOidcProvider` filters).
  const faults: CannedTokenResponse[] = [];
  let records: TokenRequestRecord[] = [];
  let assertions: ReceivedClientAssertion[] = [];
  // Client assertions, as received (read from the raw body, which is handed on as already parsed).
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/token/revocation') {
      await next();
      return;
    }
    const raw = await readRawBody(ctx.req);
    ctx.req.body = raw;
    try {
      await next();
    } finally {
      recordAssertion('/token/revocation', new URLSearchParams(raw), ctx.status);
    }
  });
  const recordAssertion = (endpoint: string, params: URLSearchParams, status: number): void => {
    const jwt = params.get('client_assertion') ?? '';
    const [h, p] = jwt.split('.');
    const header = h ? base64urlJson(h) : undefined;
    const payload = p ? base64urlJson(p) : undefined;
    if (header && payload) assertions.push({ endpoint, jwt, header, payload, assertionType: params.get('client_assertion_type'), status });
  };
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/token') {
      await next();
      return;
    }
    const raw = await readRawBody(ctx.req);
    const params = new URLSearchParams(raw);
    const grantType = params.get('grant_type') ?? '';
    let clientId = params.get('client_id') ?? undefined;
    const authorization = ctx.req.headers.authorization;
    if (!clientId && authorization?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      clientId = decodeURIComponent(decoded.slice(0, Math.max(0, decoded.indexOf(':'))));
    }

    const fault = faults.shift();
    if (fault) {
      ctx.status = fault.status;
      const body = fault.body ?? '';
      ctx.body = body;
      const json = parseJsonObject(body);
      const looksJson = json !== undefined;
      ctx.set('content-type', looksJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
      ctx.set('cache-control', 'no-store');
      for (const [name, value] of Object.entries(fault.headers ?? {})) ctx.set(name, value);
      const error = typeof json?.error === 'string' ? json.error : undefined;
      records.push({ grantType, status: fault.status, injected: true, ...(error ? { error } : {}), ...(clientId ? { clientId } : {}) });
      return;
    }

    ctx.req.body = raw;
    try {
      await next();
    } finally {
      const body = ctx.body;
      let error: string | undefined;
      if (body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') {
        error = (body as { error: string }).error;
      }
      records.push({ grantType, status: ctx.status, injected: false, ...(error ? { error } : {}), ...(clientId ? { clientId } : {}) });
      recordAssertion('/token', params, ctx.status);
    }
  });

  // Grants issued, for revokeGrantsFor.
  const grants = new Map<string, { clientId: string; accountId: string }>();
  provider.on('grant.saved', (grant) => {
    const g = grant as { jti: string; clientId: string; accountId: string };
    grants.set(g.jti, { clientId: g.clientId, accountId: g.accountId });
  });
  // oidc-provider reports 5xx through this event instead of printing; surface only real crashes.
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error', err);
  });

  host.serve(provider.callback());

  const verifyJwt = (token: string): boolean => {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [h, p, s] = parts as [string, string, string];
    const header = base64urlJson(h);
    const payload = base64urlJson(p);
    if (!header || !payload || header.alg !== 'RS256') return false;
    const ok = cryptoVerify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'));
    if (!ok) return false;
    return payload.iss === issuer && typeof payload.exp === 'number' && payload.exp > Date.now() / 1000;
  };

  return {
    issuer,
    resource,
    tokenEndpoint: `${issuer}/token`,
    authorizationEndpoint: `${issuer}/auth`,
    revocationEndpoint: `${issuer}/token/revocation`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    url: (path: string) => new URL(path, `${issuer}/`).toString(),
    grantCount: (grantType: string) => records.filter((r) => r.grantType === grantType).length,
    grantErrorCount: (grantType: string, error: string) =>
      records.filter((r) => r.grantType === grantType && r.error === error).length,
    get tokenRequests() {
      return records;
    },
    get clientAssertions() {
      return assertions;
    },
    resetCounters: () => {
      records = [];
      assertions = [];
    },
    failTokenEndpoint: (responses: CannedTokenResponse[]) => {
      faults.push(...responses);
    },
    pendingFailures: () => faults.length,
    revokeGrantsFor: async (clientId: string, accountId?: string) => {
      let revoked = 0;
      for (const [grantId, g] of [...grants]) {
        if (g.clientId !== clientId || (accountId !== undefined && g.accountId !== accountId)) continue;
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
          provider.Grant.adapter.destroy(grantId),
        ]);
        grants.delete(grantId);
        revoked += 1;
      }
      return revoked;
    },
    introspect: async (token: string) => {
      if (token.split('.').length === 3) return verifyJwt(token);
      const found = (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
      if (!found || found.isExpired) return false;
      if (found.grantId && !(await provider.Grant.find(found.grantId))) return false;
      return true;
    },
    refreshTokenActive: async (token: string) => {
      const found = await provider.RefreshToken.find(token);
      return Boolean(found && !found.isExpired && !found.consumed);
    },
    close: () => host.close(),
  };
}
