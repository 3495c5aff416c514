/**
 * A loopback `node:http` server standing in for the broker (or a resource server) in SDK and CLI tests:
 * records every request and answers with a handler the test sets.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer, listenOnLoopback } from '../../../lib/local/loopback.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeResponse {
  status: number;
  /** Serialized as JSON unless a string. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  setHandler(handler: FakeHandler): void;
  close(): Promise<void>;
}

export async function startFakeServer(handler: FakeHandler): Promise<FakeServer> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      Promise.resolve()
        .then(() => current(recorded))
        .then(
          ({ status, body, headers = {} }) => {
            const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
            res.writeHead(status, {
              ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
              ...headers,
            });
            res.end(text);
          },
          (error: unknown) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: 'internal_error', message: String(error) }));
          },
        );
    });
  });
  const port = await listenOnLoopback(server, 0);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setHandler(next) {
      current = next;
    },
    close: () => closeServer(server),
  };
}

/** The contract's token answer for `token`, valid `expiresIn` seconds from `now`. */
export function tokenBody(token: string, expiresIn = 3600, now = Date.now()) {
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_at: new Date(now + expiresIn * 1000).toISOString(),
    expires_in: expiresIn,
    scope: 'api.read',
  };
}

export function errorBody(error: string, message: string) {
  return { error, message };
}

/** A promise with its resolve function, to hold a fake answer until the test releases it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
