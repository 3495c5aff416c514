/**
 * `GET /callback`: public; the authorization server redirects the browser here (docs/api.md). Always an HTML
 * page, never JSON; the page never shows a token, code or secret and escapes everything it shows.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { authorizationCompletion, CallbackError, type AuthorizationCompletion } from '../lib/broker.js';
import { fromEnvironment, sharedLogger } from '../lib/composition.js';
import { htmlPage, queryParameters } from '../lib/http.js';
import { errorFields, logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export interface CallbackOptions {
  /** Where the page links back to the console (local mode: `/console`); no link when absent. */
  consoleUrl?: string | undefined;
}

export function createHandler(broker: () => AuthorizationCompletion, logger: Log = sharedLogger(), options: CallbackOptions = {}) {
  const link = options.consoleUrl ? { link: { href: options.consoleUrl, text: 'Back to the console' } } : {};
  return async (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    try {
      const { profileId } = await broker().completeAuthorization(queryParameters(event));
      return htmlPage(200, {
        ok: true,
        title: `Profile "${profileId}" is authorized`,
        message: 'The broker now holds a token for this profile and keeps it fresh. You can close this window.',
        ...link,
      });
    } catch (error) {
      if (error instanceof CallbackError) {
        logger.info('callback refused', { reason: error.reason });
        return htmlPage(400, { ok: false, title: 'Authorization failed', message: error.message, ...link });
      }
      // docs/api.md: the callback answers 200 or 400, always a page; the person is told to start again
      // rather than shown a bare server error.
      logger.error('callback failed', errorFields(error));
      return htmlPage(400, {
        ok: false,
        title: 'Authorization failed',
        message: 'The broker could not complete the authorization; the error was logged. Start again from the profile\'s authorization URL.',
        ...link,
      });
    }
  };
}

/** BROKER_CONSOLE_URL: a console the page may link back to (e.g. `http://127.0.0.1:8789/console` of `oauth-broker console`). */
export const handler = createHandler(fromEnvironment(authorizationCompletion), undefined, { consoleUrl: consoleUrlFrom(process.env.BROKER_CONSOLE_URL) });

function consoleUrlFrom(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}
