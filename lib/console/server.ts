/**
 * The loopback server of `oauth-broker console` (docs/console.md): serves the console and forwards the
 * console's API calls to a deployed broker, signed with the operator's AWS credentials. It owns the
 * checks that keep other web pages out: every request must name this server's own loopback Host (DNS
 * rebinding), carry no foreign Origin, and API calls must come from this origin's pages (`Sec-Fetch-Site`).
 * Only the routes the console uses are forwarded: never the token route.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  allowedHosts,
  allowedOrigins,
  LOCAL_MAX_BODY_BYTES,
  portUnavailable,
  readBody,
  refuseBody,
  sendJson,
  truncate,
} from '../local/http-adapter.js';
import { closeServer, loopbackServer, type LoopbackServer } from '../local/loopback.js';
import { consoleAnswer } from './assets.js';

/** One request to the broker's API; answers its response whatever the status (the SDK's `BrokerTransport.send`). */
export type ForwardRequest = (method: string, path: string, request: { body?: string }) => Promise<Response>;

export interface ConsoleServerOptions {
  forward: ForwardRequest;
  /** The API's base URL, shown in the console's header. */
  apiUrl: string;
  /** Whether the API is a deployed one (calls signed) or local mode. */
  mode: 'local' | 'remote';
  /** The broker's callback URL, shown for a new profile. */
  callbackUrl: string | null;
  /** Told about failures to reach or sign for the API (the console shows them too). */
  onForwardError?: (error: unknown) => void;
}

export interface ConsoleServer extends LoopbackServer {
  close(): Promise<void>;
}

/** The console's calls (docs/api.md): what is forwarded, and nothing else. */
const FORWARDED: { method: string; pattern: RegExp }[] = [
  { method: 'GET', pattern: /^\/profiles$/ },
  { method: 'GET', pattern: /^\/profiles\/[^/]+$/ },
  { method: 'PUT', pattern: /^\/profiles\/[^/]+$/ },
  { method: 'DELETE', pattern: /^\/profiles\/[^/]+$/ },
  { method: 'GET', pattern: /^\/profiles\/[^/]+\/authorize-url$/ },
  { method: 'POST', pattern: /^\/profiles\/[^/]+\/refresh$/ },
];

/** Headers of the API's answer passed on to the page. */
const PASSED_HEADERS = ['content-type', 'retry-after'];

export function createConsoleServer(options: ConsoleServerOptions): ConsoleServer {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', message: 'The console server failed to handle the request.' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const host = req.headers.host?.toLowerCase();
    if (host === undefined || !allowedHosts(loopback.port).has(host)) {
      refuse(req, res, `The console answers only requests for http://127.0.0.1:${loopback.port} (Host "${truncate(req.headers.host ?? '')}" refused).`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins(loopback.port).has(origin.toLowerCase())) {
      refuse(req, res, 'The console refuses requests from web pages of another origin.');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${loopback.port}`);
    } catch {
      refuse(req, res, 'The request target is not a valid URL path.');
      return;
    }

    if (url.pathname === '/' || url.pathname === '/console' || url.pathname.startsWith('/console/')) {
      if (method !== 'GET' && method !== 'HEAD') {
        refuse(req, res, `${method} ${url.pathname} is not allowed: the console's files are read with GET.`, { Allow: 'GET, HEAD' });
        return;
      }
      const answer = await consoleAnswer(url.pathname, { mode: options.mode, apiUrl: options.apiUrl, callbackUrl: options.callbackUrl });
      if (!answer) {
        sendJson(res, 404, { error: 'not_found', message: `${url.pathname} is not a file of the console.` });
        return;
      }
      res.writeHead(answer.statusCode, { ...answer.headers, 'Content-Length': answer.body.length });
      res.end(method === 'HEAD' ? undefined : answer.body);
      return;
    }

    if (!FORWARDED.some((route) => route.method === method && route.pattern.test(url.pathname))) {
      sendJson(res, 404, { error: 'not_found', message: `${method} ${url.pathname} is not forwarded: the console server passes on the console's own calls only.` });
      return;
    }
    // A page of another site can send a GET without an Origin header (an <img>, a form): the browser
    // says where it came from in Sec-Fetch-Site. Non-browser clients send neither.
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') {
      refuse(req, res, 'The console server forwards calls made by the console page itself only.');
      return;
    }
    const body = await readBody(req, LOCAL_MAX_BODY_BYTES);
    if (body === 'too_large') {
      refuse(req, res, `The request body is larger than ${LOCAL_MAX_BODY_BYTES} bytes.`);
      return;
    }
    let response: Response;
    try {
      response = await options.forward(method, url.pathname, body === null ? {} : { body });
    } catch (error) {
      options.onForwardError?.(error);
      const message = error instanceof Error ? error.message : String(error);
      sendJson(res, 502, { error: 'bad_gateway', message: `The console server could not call the API: ${message}` });
      return;
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    const headers: Record<string, string | number> = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
    for (const name of PASSED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    if (response.status === 204 || response.status === 304) {
      res.writeHead(response.status, headers);
      res.end();
      return;
    }
    res.writeHead(response.status, { ...headers, 'Content-Length': bytes.length });
    res.end(bytes);
  }

  const loopback = loopbackServer(server, portUnavailable);
  return Object.assign(loopback, { close: () => (server.listening ? closeServer(server) : Promise.resolve()) });
}

/** Refuses without reading the body (the connection is closed after the answer, so none is buffered). */
function refuse(req: IncomingMessage, res: ServerResponse, message: string, headers: Record<string, string> = {}): void {
  refuseBody(req, res, 400, 'invalid_request', message, headers);
}
