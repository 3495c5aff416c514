/**
 * `GET /callback`: public; the authorization server redirects the browser here (API.md). Always an HTML
 * page, never JSON; the page never shows a token, code or secret and escapes everything it shows.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { CallbackError, type Broker } from '../lib/broker.js';
import { brokerFromEnvironment, sharedLogger } from '../lib/composition.js';
import { htmlPage, queryParameters } from '../lib/http.js';
import { errorFields, logInvocation, type HandlerContext, type Log } from '../lib/logger.js';

export function createHandler(broker: () => Broker, logger: Log = sharedLogger()) {
  return async (event: APIGatewayProxyEvent, context?: HandlerContext): Promise<APIGatewayProxyResult> => {
    logInvocation(logger, { context, event });
    try {
      const { profileId } = await broker().completeAuthorization(queryParameters(event));
      return htmlPage(200, {
        ok: true,
        title: `Profile "${profileId}" is authorized`,
        message: 'The broker now holds a token for this profile and keeps it fresh. You can close this window.',
      });
    } catch (error) {
      if (error instanceof CallbackError) {
        logger.info('callback refused', { reason: error.reason });
        return htmlPage(400, { ok: false, title: 'Authorization failed', message: error.message });
      }
      // docs/api.md: the callback answers 200 or 400, always a page; the person is told to start again
      // rather than shown a bare server error.
      logger.error('callback failed', errorFields(error));
      return htmlPage(400, {
        ok: false,
        title: 'Authorization failed',
        message: 'The broker could not complete the authorization; the error was logged. Start again from the profile\'s authorization URL.',
      });
    }
  };
}

export const handler = createHandler(brokerFromEnvironment);
