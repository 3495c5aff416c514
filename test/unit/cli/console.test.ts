/**
 * `oauth-broker console`'s command line (lib/cli/console.ts): options, a taken port, the start-up check
 * of the API, --open, and stopping. The console itself is tested in Chromium (test/e2e/console).
 */
import { describe, expect, it } from 'vitest';
import { holdPort } from '../../integration/local/support.js';
import { run } from './run.js';

describe('oauth-broker console', () => {
  it('refuses a bad --port and extra operands with usage errors', async () => {
    const badPort = await run(['console', '--port', '70000'], { untilStopped: () => Promise.resolve() });
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port must be a whole number from 0 to 65535, not "70000"');
    const extra = await run(['console', 'erp'], { untilStopped: () => Promise.resolve() });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('unexpected argument "erp" for "console"');
    expect(extra.stderr).toContain('Usage: oauth-broker console');
  });

  it('says when the port is taken and how to choose another', async () => {
    const held = await holdPort();
    try {
      const result = await run(['console', '--port', String(held.port)], { untilStopped: () => Promise.resolve() });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Port ${held.port} on 127.0.0.1 is already in use. Choose another with --port (0 picks a free one).`);
    } finally {
      await held.release();
    }
  });

  it('serves until stopped, opens the browser with --open, and reports an API it cannot reach', async () => {
    const unreachable = await holdPort();
    await unreachable.release();
    const opened: string[] = [];
    let served = 0;
    const result = await run(['console', '--port', '0', '--open', '--url', `http://127.0.0.1:${unreachable.port}`], {
      openUrl: (url) => {
        opened.push(url);
        return true;
      },
      // While "running": the page is served.
      untilStopped: async () => {
        served = (await fetch(opened[0]!)).status;
      },
    });
    expect(result.code).toBe(0);
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console$/);
    expect(served).toBe(200);
    expect(result.stdout).toContain(`is local mode, which serves this console itself at http://127.0.0.1:${unreachable.port}/console`);
    expect(result.stderr).toContain(`✗ Cannot reach the broker at http://127.0.0.1:${unreachable.port} (ECONNREFUSED). Start local mode with npm start, or pass --url.`);
    // Stopped: nothing listens any more.
    await expect(fetch(opened[0]!)).rejects.toThrow();
  });

  it('says at start when the AWS identity may not list the profiles, signing the call it makes', async () => {
    const seen: Headers[] = [];
    const result = await run(['console', '--port', '0', '--url', 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod'], {
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret-key' },
      fetch: async (_input, init) => {
        seen.push(new Headers(init?.headers));
        return new Response(JSON.stringify({ message: 'Forbidden' }), { status: 403, headers: { 'content-type': 'application/json' } });
      },
      untilStopped: () => Promise.resolve(),
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Calls are signed with your AWS credentials');
    expect(result.stderr).toContain('✗ Your AWS identity may not list the profiles (HTTP 403)');
    expect(seen[0]?.get('authorization')).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request/);
  });

  it('is in the help', async () => {
    const top = await run(['--help']);
    expect(top.stdout).toContain('console [--port N] [--open]');
    const own = await run(['console', '--help']);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain('Usage: oauth-broker console [--url <ApiUrl>] [--port <N>] [--open]');
  });
});
