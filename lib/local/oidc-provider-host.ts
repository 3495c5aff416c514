/**
 * Running `oidc-provider` on loopback with development settings: what the demo authorization server
 * (`demo-authorization-server.ts`) and the test suite's authorization server (`test/support/oidc-server.ts`)
 * share. Loading the package (quieting its development notices), a fresh signing key, and the HTTP server
 * the provider answers on, which has to listen before the provider exists: the issuer names the port.
 *
 * oidc-provider ships no TypeScript types; the interfaces below describe the little used here.
 */
import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './loopback.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface OidcProviderLike {
  callback(): RequestListener;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

export interface OidcProviderModuleLike {
  default: new (issuer: string, configuration: Record<string, unknown>) => OidcProviderLike;
}

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

/** The `oidc-provider` module, typed as the caller describes it; its development notices are filtered from then on. */
export async function loadOidcProvider<M extends OidcProviderModuleLike = OidcProviderModuleLike>(): Promise<M> {
  installConsoleFilter();
  // A non-literal specifier: the package has no type declarations.
  const specifier: string = 'oidc-provider';
  return (await import(specifier)) as M;
}

/** A fresh RSA key for signing (RS256), and its private JWK for the provider's `jwks`. */
export function generateSigningKey(kid: string): { privateKey: KeyObject; jwk: JsonWebKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, jwk: { ...(privateKey.export({ format: 'jwk' }) as JsonWebKey), kid, alg: 'RS256', use: 'sig' } };
}

/**
 * The provider's `issueRefreshToken`: a refresh token only for a client allowed the `refresh_token` grant
 * whose grant includes `offline_access`.
 */
export const issueRefreshTokenForOfflineAccess = async (
  _ctx: unknown,
  client: { grantTypeAllowed(grantType: string): boolean },
  code: { scopes: Set<string> },
): Promise<boolean> => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');

export interface ProviderServer {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string;
  /** Hands requests to the provider; until then they are answered 503. */
  serve(handler: RequestListener): void;
  /** Stops the server and cuts open connections. Resolves at once when it is not running. */
  close(): Promise<void>;
}

/**
 * An HTTP server for a provider, listening on 127.0.0.1:`port` (0: a free port). A failed bind rejects with
 * `bindError(error)`, by default the error itself.
 */
export async function startProviderServer(
  port: number,
  bindError?: (error: NodeJS.ErrnoException) => Error,
): Promise<ProviderServer> {
  let handler: RequestListener | undefined;
  const server = createServer((req, res) => {
    if (handler) handler(req, res);
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
  const bound = await listenOnLoopback(server, port, bindError);
  return {
    issuer: `http://127.0.0.1:${bound}`,
    serve(listener) {
      handler = listener;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((error) => (error ? reject(error) : resolve()));
        for (const socket of sockets) socket.destroy();
      }),
  };
}
