/**
 * `oauth-broker console` (docs/console.md): the web console for a deployed broker, served on loopback.
 * The console's API calls are forwarded through the SDK's transport, so they are SigV4-signed with the
 * operator's AWS credentials (default chain) exactly like the CLI's own calls: IAM stays the only gate.
 */
import { BrokerApiError } from '../sdk/errors.js';
import { consoleFiles } from '../console/assets.js';
import { createConsoleServer } from '../console/server.js';
import { PortUnavailableError } from '../local/http-adapter.js';
import { integerOption, operandsOf } from './args.js';
import { CommandFailure, EXIT_FAILURE, EXIT_OK, type Command } from './commands.js';

/** Beside local mode's 8787 (API) and 8788 (demo authorization server). */
export const DEFAULT_CONSOLE_PORT = 8789;

export const consoleCommand: Command = async (ctx) => {
  operandsOf(ctx.args, []);
  const port = integerOption(ctx.args.options.port, 'port', 0, 65535, 'console') ?? DEFAULT_CONSOLE_PORT;
  const client = ctx.client();
  const { transport } = client;
  const apiUrl = transport.baseUrl.href.replace(/\/$/, '');
  const out = (text = '') => ctx.io.stdout.write(`${text}\n`);
  const warn = (text: string) => ctx.io.stderr.write(`${text}\n`);

  // Bundled before anything listens: a console that cannot be built fails here, with the reason.
  try {
    await consoleFiles();
  } catch (error) {
    throw new CommandFailure(
      `The console's page cannot be built (${error instanceof Error ? error.message.split('\n')[0] : String(error)}). ` +
        'From a source checkout run npm install; a built package needs npm run build.',
      EXIT_FAILURE,
      'console_unavailable',
    );
  }
  const server = createConsoleServer({
    forward: (method, path, request) => transport.send(method, path, request),
    apiUrl,
    mode: transport.signed ? 'remote' : 'local',
    callbackUrl: transport.url('/callback').href,
    onForwardError: (error) => warn(`oauth-broker console: ${error instanceof Error ? error.message : String(error)}`),
  });
  try {
    await server.listen(port);
  } catch (error) {
    if (error instanceof PortUnavailableError) {
      throw new CommandFailure(`${error.message} Choose another with --port (0 picks a free one).`, EXIT_FAILURE, 'port_in_use');
    }
    throw error;
  }
  const consoleUrl = `${server.url}/console`;
  try {
    out(`oauth-broker console for ${apiUrl} on ${consoleUrl}`);
    out(
      transport.signed
        ? '  Calls are signed with your AWS credentials (default chain); IAM decides what you may do.'
        : `  ${apiUrl} is local mode, which serves this console itself at ${apiUrl}/console.`,
    );
    // One call up front, so that missing credentials or rights show here too, not only in the browser.
    try {
      const { profiles } = await client.listProfiles();
      out(`  ✓ Connected: ${profiles.length} profile${profiles.length === 1 ? '' : 's'}.`);
    } catch (error) {
      warn(`  ✗ ${describeFirstCall(error, transport.signed)}`);
    }
    if (ctx.args.options.open) {
      const opened = await Promise.resolve(ctx.io.openUrl(consoleUrl)).catch(() => false);
      if (!opened) warn('  Could not start a browser: open the URL above yourself.');
    }
    out('Press Ctrl-C to stop.');
    await ctx.io.untilStopped();
  } finally {
    await server.close();
  }
  return EXIT_OK;
};

/** Why the start-up call failed, and what to do; the console keeps running (the broker may come up). */
function describeFirstCall(error: unknown, signed: boolean): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\.+$/, '');
  if (error instanceof BrokerApiError && (error.status === 403 || error.status === 401)) {
    return `Your AWS identity may not list the profiles (HTTP ${error.status}): the console shows "Not allowed" where IAM says no.`;
  }
  if (error instanceof BrokerApiError && error.code === 'network_error') {
    return `${message}. ${signed ? 'Check --url.' : 'Start local mode with npm start, or pass --url.'} The console retries by itself.`;
  }
  return `Listing the profiles failed: ${message}.`;
}
