/**
 * A tiny loopback HTTP server standing in for API Gateway in front of the callback Lambda: it turns
 * `GET /callback?...` into an API Gateway proxy event, runs the handler and writes the handler's
 * status, headers and body back. The broker's `callbackUrl` points here, so an authorization server's
 * redirect (followed by Chromium or by the programmatic consent) reaches the real handler.
 */
import { createServer, type Server } from 'node:http';
import type { ProxyHandler } from '../../lib/local/http-adapter.js';
import { closeServer, listenOnLoopback } from '../../lib/local/loopback.js';
import { events } from './api-events.js';

export type { ProxyHandler };

export interface CallbackBridge {
  /** `http://127.0.0.1:<port>/callback` */
  readonly url: string;
  /** The handler requests are given to; set it once the broker exists. */
  handler: ProxyHandler | undefined;
  /** Status codes answered, in order. */
  readonly answered: number[];
  close(): Promise<void>;
}

export async function startCallbackBridge(): Promise<CallbackBridge> {
  const answered: number[] = [];
  const bridge: { handler: ProxyHandler | undefined } = { handler: undefined };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, headers: Record<string, string>, body: string): void => {
      answered.push(status);
      res.writeHead(status, headers);
      res.end(body);
    };
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      send(404, { 'content-type': 'text/plain' }, 'not found');
      return;
    }
    const handler = bridge.handler;
    if (!handler) {
      send(503, { 'content-type': 'text/plain' }, 'no handler yet');
      return;
    }
    handler(events.callback(url.searchParams)).then(
      (result) => {
        const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k, String(v)]));
        send(result.statusCode, headers, result.body);
      },
      () => send(502, { 'content-type': 'text/plain' }, 'handler threw'),
    );
  });
  server.keepAliveTimeout = 1000;
  const port = await listenOnLoopback(server, 0);
  const url = `http://127.0.0.1:${port}/callback`;
  return {
    url,
    get handler() {
      return bridge.handler;
    },
    set handler(value) {
      bridge.handler = value;
    },
    answered,
    close: () => closeServer(server),
  };
}
