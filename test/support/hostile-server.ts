/**
 * A scriptable authorization server for the trust tests: an attacker's server, or a broken one. It
 * records everything it RECEIVED (method, path and query, headers, body), so that a test asserts what
 * reached it, not only what the broker answered; and it can answer in the ways real servers go wrong
 * (an endless body, an HTML page, a huge `Retry-After`, a hostile discovery document).
 *
 * `aliasFetch` lets a broker under the cloud URL policy (https: only, no loopback) reach these loopback
 * servers: it sends requests for `https://<name>` to the server's `http://127.0.0.1:<port>`, while the
 * broker validates and stores the https: URL as it would in the cloud.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from '../../lib/local/loopback.js';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body as form parameters (token, revocation requests). */
  form: URLSearchParams;
}

export type Responder = (request: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface EndlessStream {
  /** Bytes written before the client went away. */
  bytesSent: number;
  /** Whether the client (the broker) closed the connection before the body ended (it never ends). */
  closedByClient: boolean;
}

export interface HostileServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  url(path: string): string;
  readonly received: ReceivedRequest[];
  /** Requests to one path (query ignored). */
  receivedAt(path: string): ReceivedRequest[];
  /** Everything received, URL, headers and bodies, as one text: for "never received X" assertions. */
  receivedText(): string;
  /** The answer for `path` (query ignored) from now on; anything unrouted gets a 404 JSON error. */
  route(path: string, responder: Responder): void;
  /** Endless bodies written so far (see `endless`). */
  readonly streams: EndlessStream[];
  close(): Promise<void>;
}

/** A JSON answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Responder {
  return (_, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };
}

/** A token response issuing fresh tokens on every call (`expires_in` as given), counting the grants. */
export function issuingTokens(expiresIn: number, options: { refreshToken?: boolean } = {}): Responder & { issued: number } {
  const responder = ((request, res) => {
    responder.issued += 1;
    const n = `${responder.issued}-${Math.random().toString(36).slice(2)}`;
    json(200, {
      access_token: `at-hostile-${n}`,
      token_type: 'Bearer',
      expires_in: expiresIn,
      ...(options.refreshToken === false ? {} : { refresh_token: `rt-hostile-${n}` }),
      grant: request.form.get('grant_type'),
    })(request, res);
  }) as Responder & { issued: number };
  responder.issued = 0;
  return responder;
}

export async function startHostileServer(): Promise<HostileServer> {
  const received: ReceivedRequest[] = [];
  const routes = new Map<string, Responder>();
  const streams: EndlessStream[] = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const request: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body, form: new URLSearchParams(body) };
      received.push(request);
      const path = new URL(request.url, 'http://hostile').pathname;
      const responder = routes.get(path) ?? json(404, { error: 'not_found' });
      Promise.resolve(responder(request, res)).catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 1000;
  const port = await listenOnLoopback(server, 0);
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    url: (path) => `${origin}${path}`,
    received,
    receivedAt: (path) => received.filter((r) => new URL(r.url, 'http://hostile').pathname === path),
    receivedText: () => received.map((r) => `${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`).join('\n'),
    route(path, responder) {
      routes.set(path, responder === ENDLESS ? endlessTo(streams) : responder);
    },
    streams,
    close: () => closeServer(server),
  };
}

/** Marker for `route(path, ENDLESS)`: a 200 JSON answer whose body never ends (`{"access_token":"aaaa…`). */
export const ENDLESS: Responder = () => undefined;

function endlessTo(streams: EndlessStream[]): Responder {
  return (_, res) => {
    const stream: EndlessStream = { bytesSent: 0, closedByClient: false };
    streams.push(stream);
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"access_token":"');
    res.on('close', () => {
      stream.closedByClient = !res.writableFinished;
    });
    const pump = () => {
      while (!res.destroyed) {
        stream.bytesSent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
}

/**
 * A fetch that sends `https://<name>/…` for each alias to the loopback server named for it (origin to
 * origin, path and query kept), and everything else to `inner`. The alias map is read on every call, so
 * it can be filled after the broker was built.
 */
export function aliasFetch(aliases: Map<string, string>, inner: typeof fetch = fetch): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const target = aliases.get(url.origin);
    if (!target) return inner(input, init);
    const rewritten = new URL(`${url.pathname}${url.search}`, target);
    return inner(rewritten, init);
  }) as typeof fetch;
}
