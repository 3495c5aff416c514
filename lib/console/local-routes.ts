/**
 * Local mode's console routes (docs/console.md): `GET /console` and its files, `GET /` redirected there.
 * They go through local mode's HTTP adapter like the API's routes, so its Host and Origin checks apply to
 * every console request; the page then calls the API on the same origin.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Route } from '../local/http-adapter.js';
import { errorFields, type Log } from '../logger.js';
import { consoleAnswer, consoleFiles } from './assets.js';

export interface ConsoleRoutesOptions {
  /** The broker's callback URL, shown for a new profile. */
  callbackUrl: () => string | undefined;
  logger: Log;
}

export function consoleRoutes(options: ConsoleRoutesOptions): Route[] {
  // Bundled now, so that the first page load does not wait for esbuild (and a broken bundle is logged early).
  consoleFiles().catch((error: unknown) => options.logger.error('console: bundling failed', errorFields(error)));
  const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const origin = `http://${event.headers.host ?? event.headers.Host ?? '127.0.0.1'}`;
    let answer;
    try {
      answer = await consoleAnswer(event.path, { mode: 'local', apiUrl: origin, callbackUrl: options.callbackUrl() ?? null });
    } catch (error) {
      options.logger.error('console: bundling failed', errorFields(error));
      return json(500, 'internal_error', 'The console could not be built; the error was logged.');
    }
    if (!answer) return json(404, 'not_found', `${event.path} is not a file of the console.`);
    return { statusCode: answer.statusCode, headers: answer.headers, body: answer.body.toString('base64'), isBase64Encoded: true };
  };
  return [
    { method: 'GET', resource: '/', handler },
    { method: 'GET', resource: '/console', handler },
    { method: 'GET', resource: '/console/{file}', handler },
  ];
}

function json(statusCode: number, error: string, message: string): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' },
    body: JSON.stringify({ error, message }),
  };
}
