/**
 * Local mode's "API Gateway" (docs/design.md "Ports and adapters"): a small `node:http` server that turns each
 * request into the `APIGatewayProxyEvent` API Gateway's REST proxy integration would deliver and hands it
 * to the real `lambdas/` handler of its route, then writes the `APIGatewayProxyResult` back. One code path
 * runs in the cloud and on a laptop.
 *
 * Like `sam local`, it checks no signature: it listens on 127.0.0.1 only, and refuses requests whose `Host`
 * is not the loopback address it listens on (DNS rebinding) and state-changing requests from another web
 * origin (a page in the user's browser).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent } from '../http-event.js';
import { loopbackServer, type LoopbackServer } from './loopback.js';

export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface Route {
  method: string;
  /** API Gateway resource template, e.g. `/profiles/{id}/token`. */
  resource: string;
  handler: ProxyHandler;
}

/**
 * Larger than the contract's 16 KiB so that the broker's own validation answers bodies a little over it;
 * anything larger is refused here before it is read.
 */
export const LOCAL_MAX_BODY_BYTES = 64 * 1024;
export const LOCAL_STAGE = 'local';

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

type Match = { route: CompiledRoute; pathParameters: Record<string, string> | null } | { allow: string[] } | undefined;

export class RouteTable {
  readonly #routes: CompiledRoute[];

  constructor(routes: Route[]) {
    this.#routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.resource
        .split('/')
        .map((segment) => {
          const m = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
          if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(m[1]!);
          return '([^/]+)';
        })
        .join('/');
      return { ...route, method: route.method.toUpperCase(), pattern: new RegExp(`^${source}$`), names };
    });
  }

  /** The route for `method` and `path`; `{ allow }` when the path exists with other methods only. */
  match(method: string, path: string): Match {
    const allow: string[] = [];
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allow.push(route.method);
        continue;
      }
      if (route.names.length === 0) return { route, pathParameters: null };
      const pathParameters: Record<string, string> = {};
      for (const [i, name] of route.names.entries()) {
        try {
          pathParameters[name] = decodeURIComponent(m[i + 1]!);
        } catch {
          return undefined;
        }
      }
      return { route, pathParameters };
    }
    return allow.length > 0 ? { allow } : undefined;
  }
}

export interface LocalHttpServerOptions {
  routes: Route[];
  /** Called when a handler throws (they should not: each maps its own errors). Default: nothing. */
  onError?: (error: unknown, event: APIGatewayProxyEvent) => void;
  /** Answers with 503 while this says the broker is not ready yet (it starts after the port is bound). */
  isReady?: () => boolean;
  maxBodyBytes?: number;
}

export interface LocalHttpServer extends LoopbackServer {
  /**
   * Stops accepting connections, lets requests in progress finish (their writes are awaited by the
   * handlers), then closes idle keep-alive connections. After `graceMs`, remaining connections are cut.
   */
  close(graceMs?: number): Promise<void>;
}

/** A port that cannot be bound (in use, or not allowed). */
export class PortUnavailableError extends Error {
  constructor(
    message: string,
    readonly port: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'PortUnavailableError';
  }
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export function createLocalHttpServer(options: LocalHttpServerOptions): LocalHttpServer {
  const table = new RouteTable(options.routes);
  const maxBodyBytes = options.maxBodyBytes ?? LOCAL_MAX_BODY_BYTES;
  let inFlight = 0;
  let closing = false;
  const sockets = new Set<Socket>();
  const idleWaiters: (() => void)[] = [];

  const server = createServer((req, res) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) for (const wake of idleWaiters.splice(0)) wake();
    });
    if (closing) res.setHeader('Connection', 'close');
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', message: 'The local broker failed to handle the request.' });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const host = req.headers.host;
    if (host !== undefined && !allowedHosts(loopback.port).has(host.toLowerCase())) {
      refuseBody(req, res, 400, 'invalid_request', `The local broker answers only requests for http://127.0.0.1:${loopback.port} (Host "${truncate(host)}" refused).`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && method !== 'GET' && method !== 'HEAD' && !allowedOrigins(loopback.port).has(origin.toLowerCase())) {
      refuseBody(req, res, 400, 'invalid_request', 'The local broker refuses state-changing requests from web pages of another origin.');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${loopback.port}`);
    } catch {
      refuseBody(req, res, 400, 'invalid_request', 'The request target is not a valid URL path.');
      return;
    }
    const match = table.match(method, url.pathname);
    if (match === undefined) {
      refuseBody(req, res, 404, 'not_found', `${url.pathname} is not a route of this API.`);
      return;
    }
    if ('allow' in match) {
      refuseBody(req, res, 400, 'invalid_request', `${method} ${url.pathname} is not a route of this API; use ${match.allow.join(' or ')}.`, {
        Allow: match.allow.join(', '),
      });
      return;
    }
    if (options.isReady && !options.isReady()) {
      refuseBody(req, res, 503, 'temporarily_unavailable', 'The local broker is still starting; retry in a moment.', { 'Retry-After': '1' });
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      refuseBody(req, res, 400, 'invalid_request', `The request body is larger than ${maxBodyBytes} bytes.`);
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === 'too_large') {
      refuseBody(req, res, 400, 'invalid_request', `The request body is larger than ${maxBodyBytes} bytes.`);
      return;
    }
    const event = toEvent(req, method, url, match.route.resource, match.pathParameters, body);
    let result: APIGatewayProxyResult;
    try {
      result = await match.route.handler(event);
    } catch (error) {
      options.onError?.(error, event);
      sendJson(res, 500, { error: 'internal_error', message: 'The broker failed to handle the request; the error was logged.' });
      return;
    }
    writeResult(res, result);
  }

  const close = async (graceMs = 10_000) => {
    if (!server.listening) return;
    closing = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([drained, grace]);
    clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  const loopback = loopbackServer(server, portUnavailable);
  return Object.assign(loopback, { close });
}

/** Why `requested` could not be bound, in words (shared with the console server). */
export function portUnavailable(requested: number, error: NodeJS.ErrnoException): PortUnavailableError {
  const code = error.code ?? 'UNKNOWN';
  const message =
    code === 'EADDRINUSE'
      ? `Port ${requested} on 127.0.0.1 is already in use.`
      : code === 'EACCES'
        ? `Port ${requested} on 127.0.0.1 may not be used by this user.`
        : `Port ${requested} on 127.0.0.1 cannot be used (${code}).`;
  return new PortUnavailableError(message, requested, code);
}

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

export function allowedOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

export function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** Reads the body up to `limit` bytes; stops reading (without buffering more) once it is exceeded. */
export function readBody(req: IncomingMessage, limit: number): Promise<string | null | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(size === 0 ? null : Buffer.concat(chunks).toString('utf8'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

/**
 * Answers an error without reading (more of) the request body: the connection is closed after the
 * answer, so an unread body is never buffered.
 */
export function refuseBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.readableEnded) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => req.socket.destroySoon());
  }
  sendJson(res, status, { error, message }, headers);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, ...headers, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function writeResult(res: ServerResponse, result: APIGatewayProxyResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(name, values.map(String));
  const body = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  res.statusCode = result.statusCode;
  if (result.statusCode === 204 || result.statusCode === 304) {
    res.end();
    return;
  }
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** The event API Gateway's REST proxy integration delivers, with stage `local`. */
export function toEvent(
  req: IncomingMessage,
  method: string,
  url: URL,
  resource: string,
  pathParameters: Record<string, string> | null,
  body: string | null,
): APIGatewayProxyEvent {
  // API Gateway: the single-value header map keeps the last value of a repeated header.
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (!values || values.length === 0) continue;
    headers[name] = values[values.length - 1]!;
    multiValueHeaders[name] = values;
  }
  return proxyEvent(
    { method, resource, path: url.pathname, pathParameters, query: url.searchParams, headers, multiValueHeaders, body },
    {
      accountId: 'local',
      apiId: 'local',
      stage: LOCAL_STAGE,
      resourceId: 'local',
      protocol: `HTTP/${req.httpVersion}`,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      userAgent: headers['user-agent'] ?? null,
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
    },
  );
}
