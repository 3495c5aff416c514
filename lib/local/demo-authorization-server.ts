/**
 * The demo authorization server of local mode (`BROKER_DEMO=1`): a real OpenID Connect provider
 * (`oidc-provider`) on loopback, so a newcomer can see the broker authorize and refresh without an account
 * anywhere. Development settings throughout: any login and any password, everything in memory (nothing
 * survives a restart), fresh keys on every start.
 *
 * - issuer `http://127.0.0.1:<port>`, discovery at `/.well-known/openid-configuration`
 * - one confidential client (`client_secret_basic`), redirect URI = the broker's callback
 * - PKCE (S256) required; refresh tokens only with `offline_access` (which oidc-provider keeps only with
 *   `prompt=consent`); refresh tokens rotate on every use
 * - revocation (RFC 7009) and introspection (RFC 7662) enabled, so an API under development can check the
 *   broker's access tokens against it
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PortUnavailableError } from './http-adapter.js';

export const DEMO_CLIENT_ID = 'demo';
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
  close(): Promise<void>;
}

// oidc-provider ships no TypeScript types; this is the little used here.
interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}
type OidcProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

let consoleFilterInstalled = false;
/**
 * oidc-provider prints development notices (in-memory adapter, devInteractions, "Unsupported runtime" on
 * Node 20): here they are intended, so they are dropped; any other console output passes.
 */
function installConsoleFilter(): void {
  if (consoleFilterInstalled) return;
  consoleFilterInstalled = true;
  for (const level of ['info', 'warn'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]): void => {
      const first = args[0];
      // eslint-disable-next-line no-control-regex -- oidc-provider colours its notices with ANSI escapes
      if (typeof first === 'string' && /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING):/.test(first)) return;
      original(...args);
    };
  }
}

export async function startDemoAuthorizationServer(options: DemoAuthorizationServerOptions): Promise<DemoAuthorizationServer> {
  installConsoleFilter();
  // A non-literal specifier: the package has no type declarations.
  const specifier: string = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: OidcProviderConstructor };

  // The provider needs the issuer, which names the port: requests wait for it behind this slot.
  const current: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server = createServer((req, res) => {
    if (current.handler) current.handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  server.keepAliveTimeout = 1000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Listen first: the issuer names the port.
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'UNKNOWN';
      reject(
        new PortUnavailableError(
          code === 'EADDRINUSE' ? `Port ${options.port} on 127.0.0.1 is already in use.` : `Port ${options.port} on 127.0.0.1 cannot be used (${code}).`,
          options.port,
          code,
        ),
      );
    };
    server.once('error', onError);
    server.listen({ port: options.port, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
  const issuer = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const ttl = options.accessTokenTtlSeconds ?? DEMO_ACCESS_TOKEN_TTL_SECONDS;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JsonWebKey), kid: `demo-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

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
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }, code: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
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
  current.handler = provider.callback();

  return {
    issuer,
    clientId: DEMO_CLIENT_ID,
    clientSecret,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
