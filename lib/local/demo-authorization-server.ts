/**
 * The demo authorization server of local mode (`BROKER_DEMO=1`): a real OpenID Connect provider
 * (`oidc-provider`) on loopback, so a newcomer can see the broker authorize and refresh without an account
 * anywhere. Development settings throughout: any login and any password, everything in memory (nothing
 * survives a restart), fresh keys on every start.
 *
 * - issuer `http://127.0.0.1:<port>`, discovery at `/.well-known/openid-configuration`
 * - two confidential clients (`client_secret_basic`), redirect URI = the broker's callback: `demo`, with a
 *   secret random per start, behind the `demo` profile; and {@link OWN_PROFILE_CLIENT}, with fixed
 *   credentials printed in the start banner and docs/local-mode.md, for the profiles a newcomer writes
 *   by hand. Fixed credentials are harmless here: the server listens on loopback, in local mode only.
 * - PKCE (S256) required; refresh tokens only with `offline_access` (which oidc-provider keeps only with
 *   `prompt=consent`); refresh tokens rotate on every use
 * - revocation (RFC 7009) and introspection (RFC 7662) enabled, so an API under development can check the
 *   broker's access tokens against it
 */
import { randomBytes } from 'node:crypto';
import { PortUnavailableError } from './http-adapter.js';
import { generateSigningKey, issueRefreshTokenForOfflineAccess, loadOidcProvider, startProviderServer } from './oidc-provider-host.js';

export const DEMO_CLIENT_ID = 'demo';
/** The client for your own profiles against the demo server (docs/local-mode.md "Your own profile"). */
export const OWN_PROFILE_CLIENT = { clientId: 'my-app', clientSecret: 'my-app-secret' } as const;
export const DEMO_SCOPE = 'openid offline_access';
/** Short enough that the refresh job visibly refreshes within minutes of authorizing. */
export const DEMO_ACCESS_TOKEN_TTL_SECONDS = 15 * 60;

export interface DemoAuthorizationServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** The broker's `GET /callback` URL: the client's only redirect URI. */
  redirectUri: string;
  accessTokenTtlSeconds?: number;
}

export interface DemoAuthorizationServer {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string;
  readonly clientId: string;
  /** Random per start. */
  readonly clientSecret: string;
  /** Fixed: {@link OWN_PROFILE_CLIENT}. */
  readonly ownProfileClient: { clientId: string; clientSecret: string };
  close(): Promise<void>;
}

export async function startDemoAuthorizationServer(options: DemoAuthorizationServerOptions): Promise<DemoAuthorizationServer> {
  const { default: Provider } = await loadOidcProvider();

  // Listen first: the issuer names the port.
  const host = await startProviderServer(options.port, (error) => {
    const code = error.code ?? 'UNKNOWN';
    return new PortUnavailableError(
      code === 'EADDRINUSE' ? `Port ${options.port} on 127.0.0.1 is already in use.` : `Port ${options.port} on 127.0.0.1 cannot be used (${code}).`,
      options.port,
      code,
    );
  });
  const { issuer } = host;
  const clientSecret = randomBytes(24).toString('base64url');
  const ttl = options.accessTokenTtlSeconds ?? DEMO_ACCESS_TOKEN_TTL_SECONDS;

  const { jwk } = generateSigningKey(`demo-${randomBytes(4).toString('hex')}`);

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: DEMO_CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [options.redirectUri],
      },
      {
        client_id: OWN_PROFILE_CLIENT.clientId,
        client_secret: OWN_PROFILE_CLIENT.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [options.redirectUri],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: issueRefreshTokenForOfflineAccess,
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    ttl: {
      AccessToken: ttl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => {
    console.error('demo authorization server error:', error instanceof Error ? error.message : String(error));
  });
  host.serve(provider.callback());

  return {
    issuer,
    clientId: DEMO_CLIENT_ID,
    clientSecret,
    ownProfileClient: { ...OWN_PROFILE_CLIENT },
    close: () => host.close(),
  };
}
