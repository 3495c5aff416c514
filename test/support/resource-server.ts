/**
 * A loopback resource server (the "integration" side): `GET /` answers `200 {"ok":true}` only for
 * `Authorization: Bearer <token>` that the callback says is active, else `401` with
 * `WWW-Authenticate: Bearer error="invalid_token"` (or `Bearer realm="test"` when no token was sent).
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from '../../lib/local/loopback.js';

export interface ResourceServerOptions {
  /** e.g. `(token) => oidcServer.introspect(token)` */
  introspect: (token: string) => Promise<boolean>;
}

export interface ResourceServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** requests received so far (any method/path) */
  readonly requests: number;
  /** bearer tokens received so far, in order */
  readonly tokens: readonly string[];
  close(): Promise<void>;
}

export async function startResourceServer(options: ResourceServerOptions): Promise<ResourceServer> {
  let requests = 0;
  const tokens: string[] = [];

  const server: Server = createServer((req, res) => {
    requests += 1;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (req.method !== 'GET' || path !== '/') {
        send(404, { error: 'not_found' });
        return;
      }
      const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(req.headers.authorization ?? '');
      const token = match?.[1];
      if (!token) {
        send(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer realm="test"' });
        return;
      }
      tokens.push(token);
      let active = false;
      try {
        active = await options.introspect(token);
      } catch {
        active = false;
      }
      if (active) send(200, { ok: true });
      else send(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    })().catch(() => {
      if (!res.headersSent) send(500, { error: 'server_error' });
      else res.end();
    });
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const port = await listenOnLoopback(server, 0);

  return {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return requests;
    },
    get tokens() {
      return tokens;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        for (const socket of sockets) socket.destroy();
      }),
  };
}
