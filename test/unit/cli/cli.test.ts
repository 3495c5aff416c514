import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NOW, makeView, readyStatus, startFakeAdminBroker, type FakeAdminBroker } from './fake-admin-broker.js';
import { fakeTime, run } from './run.js';
import { useTempDir } from '../../support/temp-dir.js';

let broker: FakeAdminBroker;
let dir: string;

beforeEach(async () => {
  broker = await startFakeAdminBroker([
    makeView('demo', readyStatus()),
    makeView('erp', {
      state: 'authorization_required',
      lastError: { code: 'invalid_grant', message: 'The refresh token was revoked.', at: '2026-11-28T08:30:00.000Z' },
    }),
  ]);
});
useTempDir('oauth-broker-cli-', (made) => (dir = made));

afterEach(async () => {
  await broker.close();
});

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('help, version and usage errors', () => {
  it('--help shows the commands, exit codes and examples', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const text of ['profiles put <id> --file', 'status', 'authorize <id>', 'token <id>', 'refresh <id>', 'policy <id> --role', 'Exit codes:', 'Examples:', 'BROKER_URL']) {
      expect(stdout).toContain(text);
    }
    expect(stdout).toMatch(/3\s+not ready/);
  });

  it.each([
    [['token', '--help']],
    [['help', 'token']],
    [['-h', 'token']],
  ])('per command help: %j', async (argv) => {
    const { code, stdout } = await run(argv);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: oauth-broker token <id>');
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain('Exit codes:');
  });

  it('has help for every command', async () => {
    for (const argv of [['profiles', '--help'], ['profiles', 'put', '--help'], ['profiles', 'list', '-h'], ['profiles', 'get', '-h'], ['profiles', 'delete', '-h'], ['status', '-h'], ['authorize', '-h'], ['refresh', '-h'], ['policy', '-h']]) {
      const { code, stdout } = await run(argv);
      expect(code, argv.join(' ')).toBe(0);
      expect(stdout, argv.join(' ')).toContain('Usage: oauth-broker');
    }
    expect((await run(['policy', '--help'])).stdout).toContain('account (and partition) are taken from the role ARN');
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('no command: exit 2 with the help on stderr', async () => {
    const { code, stdout, stderr } = await run([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('Usage: oauth-broker <command>');
  });

  it.each([
    [['stauts'], 'unknown command "stauts". Did you mean "status"?'],
    [['tokne', 'demo'], 'unknown command "tokne". Did you mean "token"?'],
    [['authorise', 'demo'], 'unknown command "authorise". Did you mean "authorize"?'],
    [['profiles', 'lsit'], 'unknown subcommand "profiles lsit": use profiles list, get, put or delete. Did you mean "profiles list"?'],
    [['token', 'demo', '--min-validty', '5'], 'unknown option --min-validty. Did you mean --min-validity?'],
    [['authorize', 'demo', '--wait', '--tiemout', '5'], 'unknown option --tiemout. Did you mean --timeout?'],
    [['status', '--josn'], 'unknown option --josn. Did you mean --json?'],
    // --wait is close, but not an option of "token": no suggestion.
    [['token', 'demo', '--wiat'], 'unknown option --wiat'],
    [['authorize', 'demo', '--opne'], 'unknown option --opne. Did you mean --open?'],
  ])('did you mean: %j', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toBe(`oauth-broker: ${message}`);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"\n/],
    [['profiles'], /"profiles" needs a subcommand/],
    [['profiles', 'rename', 'x'], /unknown subcommand/],
    [['token'], /"token" needs <id>/],
    [['token', 'a', 'b'], /unexpected argument "b"/],
    [['token', 'Not_Valid!'], /is not a profile id/],
    [['token', 'demo', '--bogus'], /unknown option --bogus/],
    [['token', 'demo', '--role', 'x'], /option --role does not apply to "token"/],
    [['token', 'demo', '--min-validity', 'soon'], /--min-validity must be a whole number from 0 to 3600/],
    [['token', 'demo', '--min-validity', '4000'], /--min-validity must be a whole number/],
    [['token', 'demo', '--min-validity'], /option --min-validity <value> needs a value/],
    [['authorize', 'demo', '--timeout', '5'], /--timeout applies only with --wait/],
    [['authorize', 'demo', '--wait', '--timeout', '-1'], /--timeout/],
    [['profiles', 'put', 'demo'], /needs --file <file>/],
    [['policy', 'demo'], /needs --role <role-arn>/],
    [['status', '--url', 'not a url'], /--url is not an absolute URL/],
    [['status', '--url', 'http://broker.example.com/prod'], /--url must be an https: URL \(http: only for a broker on loopback, such as http:\/\/127\.0\.0\.1:8787\)/],
    [['status', '--url', 'file:///etc/passwd'], /--url must be an https: URL/],
  ])('usage error %j exits 2 with a helpful message', async (argv, message) => {
    const { code, stdout, stderr } = await run(argv as string[], { url: broker.url });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message as RegExp);
    expect(stderr).toMatch(/Usage: oauth-broker/);
    expect(stderr).toContain('--help');
    noStack(stderr);
    expect(broker.requests).toHaveLength(0);
  });

  it('usage errors are JSON on stderr with --json', async () => {
    const { code, stderr } = await run(['token', '--json']);
    expect(code).toBe(2);
    expect(JSON.parse(stderr)).toEqual({ error: 'usage', message: '"token" needs <id>' });
  });
});

describe('profiles', () => {
  it('list: a table, and the contract body with --json', async () => {
    const human = await run(['profiles', 'list'], { url: broker.url });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/PROFILE\s+GRANT\s+STATE/);
    expect(human.stdout).toMatch(/✓\s+demo\s+authorization_code\s+ready/);
    expect(human.stdout).toMatch(/✗\s+erp\s+authorization_code\s+authorization_required/);

    const json = await run(['profiles', 'list', '--json'], { url: broker.url });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).profiles.map((p: { id: string }) => p.id)).toEqual(['demo', 'erp']);
  });

  it('list says how to start when there are no profiles', async () => {
    broker.profiles.clear();
    const { code, stdout } = await run(['profiles', 'list'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout).toContain('oauth-broker profiles put');
  });

  it('get: the details, and the view with --json', async () => {
    const human = await run(['profiles', 'get', 'demo'], { url: broker.url });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/State\s+✓ ready \(access token expires in 59m\)/);
    expect(human.stdout).toMatch(/Callback URL\s+http:\/\/127\.0\.0\.1:8787\/callback/);
    expect(human.stdout).toMatch(/Client\s+demo-client \(secret set, client_secret_basic\)/);

    const json = await run(['profiles', 'get', 'demo', '--json'], { url: broker.url });
    expect(JSON.parse(json.stdout)).toEqual(broker.profiles.get('demo'));
  });

  it('get of an unknown profile: exit 1, the contract message on stderr, no stack', async () => {
    const { code, stdout, stderr } = await run(['profiles', 'get', 'nope'], { url: broker.url });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('oauth-broker: Profile "nope" does not exist.\n');
  });

  it('errors are JSON on stderr with --json', async () => {
    const { code, stderr } = await run(['profiles', 'get', 'nope', '--json'], { url: broker.url });
    expect(code).toBe(1);
    expect(JSON.parse(stderr)).toEqual({ error: 'not_found', message: 'Profile "nope" does not exist.', status: 404 });
  });

  it('put --file creates, then replaces, and prints the callback URL', async () => {
    const file = join(dir, 'crm.json');
    await writeFile(file, JSON.stringify({ authorizationUrl: 'https://as.example/a', tokenUrl: 'https://as.example/t', clientId: 'crm', clientSecret: 's3cret' }));

    const created = await run(['profiles', 'put', 'crm', '--file', file], { url: broker.url });
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('Created profile "crm"');
    expect(created.stdout).toContain('Callback URL: http://127.0.0.1:8787/callback');
    expect(created.stdout).toContain('Next: oauth-broker authorize crm --open --wait');
    const put = broker.requests.at(-1)!;
    expect(put.method).toBe('PUT');
    expect(put.path).toBe('/profiles/crm');
    expect(put.headers['content-type']).toBe('application/json');
    expect(JSON.parse(put.body)).toMatchObject({ clientId: 'crm', clientSecret: 's3cret' });

    const replaced = await run(['profiles', 'put', 'crm', '-f', file, '--json'], { url: broker.url });
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ id: 'crm', clientId: 'crm' });
    expect((await run(['profiles', 'put', 'crm', '--file', file], { url: broker.url })).stdout).toContain('Updated profile "crm"');
  });

  it('put --file - reads stdin', async () => {
    const { code, stdout } = await run(['profiles', 'put', 'm2m', '--file', '-'], {
      url: broker.url,
      input: JSON.stringify({ grantType: 'client_credentials', tokenUrl: 'https://as.example/t', clientId: 'm2m', clientSecret: 'x' }),
    });
    expect(code).toBe(0);
    expect(stdout).toContain('Created profile "m2m" (client_credentials');
    expect(stdout).toContain('Next: oauth-broker token m2m');
  });

  it('put with a missing file or bad JSON is a usage error and sends nothing', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"clientId": ');
    const list = join(dir, 'list.json');
    await writeFile(list, '[1]');
    for (const [file, message] of [
      [join(dir, 'missing.json'), /^oauth-broker: the profile file \S*missing\.json does not exist \(relative paths start in \//],
      [dir, /is a directory, not a profile file/],
      [bad, /bad\.json is not valid JSON/],
      [list, /must hold a JSON object/],
    ] as const) {
      const { code, stderr } = await run(['profiles', 'put', 'crm', '--file', file], { url: broker.url });
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    }
    expect(broker.requests).toHaveLength(0);
  });

  it.each([
    ['a trailing comma', (secret: string) => `{"clientId": "crm", "clientSecret": "${secret}", }`, /line 1, column \d+/],
    ['an unquoted value', (secret: string) => `{\n  "clientId": "crm",\n  "clientSecret": ${secret}\n}`, /line 3, column 19/],
    ['a cut-off file', (secret: string) => `{"clientId": "crm", "clientSecret": "${secret}`, /ends before the JSON value is complete/],
  ])('put with malformed JSON (%s) says where, and never repeats the file\'s content', async (_, text, where) => {
    // Prepare
    const secret = 'zz-Distinctive-CLI-Secret-5d0b2a';
    const file = join(dir, 'leaky.json');
    await writeFile(file, text(secret));

    // Act
    const human = await run(['profiles', 'put', 'crm', '--file', file], { url: broker.url });
    const json = await run(['profiles', 'put', 'crm', '--file', file, '--json', '--debug'], { url: broker.url });

    // Assess
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/leaky\.json is not valid JSON/);
    expect(human.stderr).toMatch(where);
    for (const output of [human.stdout, human.stderr, json.stdout, json.stderr]) {
      expect(output).not.toContain(secret);
      expect(output).not.toContain(secret.slice(0, 8));
    }
    expect(broker.requests).toHaveLength(0);
  });

  it('put refused by the broker (400): an invalid profile file, exit 2 with its message', async () => {
    const file = join(dir, 'p.json');
    await writeFile(file, '{"tokenUrl": "https://as.example/t"}');
    const { code, stderr } = await run(['profiles', 'put', 'crm', '--file', file], { url: broker.url });
    expect(code).toBe(2);
    expect(stderr).toBe(`oauth-broker: ${file} is not a valid profile: clientId: required.\n`);
    const json = await run(['profiles', 'put', 'crm', '--file', file, '--json'], { url: broker.url });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'invalid_request', message: `${file} is not a valid profile: clientId: required.` });
    expect(broker.profiles.has('crm')).toBe(false);
  });

  it('delete', async () => {
    const { code, stdout } = await run(['profiles', 'delete', 'erp'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout).toBe('Deleted profile "erp".\n');
    expect(broker.profiles.has('erp')).toBe(false);
    const json = await run(['profiles', 'delete', 'demo', '--json'], { url: broker.url });
    expect(JSON.parse(json.stdout)).toEqual({ id: 'demo', deleted: true });
    expect((await run(['profiles', 'delete', 'demo'], { url: broker.url })).code).toBe(1);
  });
});

describe('status', () => {
  it('prints ✓ only for ready, the state, the time to expiry and the last error (code and sentence)', async () => {
    broker.profiles.set('failing', makeView('failing', {
      state: 'refresh_failing',
      accessTokenExpiresAt: new Date(NOW + 125 * 60_000).toISOString(),
      lastError: { code: 'server_error', message: 'HTTP 502', at: '2026-11-28T08:58:00.000Z' },
    }));
    const { code, stdout } = await run(['status'], { url: broker.url });
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+PROFILE\s+STATE\s+EXPIRES IN\s+LAST ERROR$/);
    expect(lines[1]).toMatch(/^✓\s+demo\s+ready\s+59m\s+-$/);
    expect(lines[2]).toMatch(/^✗\s+erp\s+authorization_required\s+-\s+invalid_grant: The refresh token was revoked\.$/);
    expect(lines[3]).toMatch(/^✗\s+failing\s+refresh_failing\s+2h 5m\s+server_error: HTTP 502$/);
  });

  it('--json gives each profile with ready, state and seconds to expiry', async () => {
    const { code, stdout } = await run(['status', '--json'], { url: broker.url });
    expect(code).toBe(0);
    const { profiles } = JSON.parse(stdout);
    expect(profiles[0]).toEqual({
      id: 'demo',
      ready: true,
      state: 'ready',
      accessTokenExpiresAt: new Date(NOW + 3570_000).toISOString(),
      expiresInSeconds: 3570,
      lastError: null,
    });
    expect(profiles[1]).toMatchObject({ id: 'erp', ready: false, state: 'authorization_required', expiresInSeconds: null, lastError: { code: 'invalid_grant' } });
  });

  it('with ids: exit 0 when all are ready, 3 when one is not', async () => {
    expect((await run(['status', 'demo'], { url: broker.url })).code).toBe(0);
    const notReady = await run(['status', 'demo', 'erp'], { url: broker.url });
    expect(notReady.code).toBe(3);
    expect(notReady.stdout).toContain('erp');
  });
});

describe('authorize', () => {
  it('prints the authorization URL and the callback URL hint', async () => {
    const { code, stdout } = await run(['authorize', 'erp'], { url: broker.url });
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^Copy Authorization URL for "erp" \(single use, valid until .+\):$/);
    expect(lines[1]).toBe('https://as.example/authorize?client_id=erp-client&state=s123&code_challenge=c456');
    expect(stdout).toContain('callback URL http://127.0.0.1:8787/callback');
    expect(stdout).toContain('registered there as a redirect URI');
  });

  it('--json prints the broker\'s answer on one line', async () => {
    const { code, stdout } = await run(['authorize', 'erp', '--json'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual({
      authorizationUrl: 'https://as.example/authorize?client_id=erp-client&state=s123&code_challenge=c456',
      callbackUrl: 'http://127.0.0.1:8787/callback',
      expiresAt: new Date(NOW + 600_000).toISOString(),
    });
  });

  it('--open opens the URL in the browser', async () => {
    const opened: string[] = [];
    const { code, stderr } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl: (u) => (opened.push(u), true) });
    expect(code).toBe(0);
    expect(opened).toEqual(['https://as.example/authorize?client_id=erp-client&state=s123&code_challenge=c456']);
    expect(stderr).toContain('Opened the authorization URL in the browser');
  });

  it('--open without a browser still succeeds, says why and points at the printed URL and a tunnel', async () => {
    for (const [openUrl, reason] of [
      [() => false, 'no browser could be started'],
      [() => Promise.reject(new Error('spawn xdg-open ENOENT')), 'spawn xdg-open ENOENT'],
      [() => Promise.reject(new Error('xdg-open exited with status 3')), 'xdg-open exited with status 3'],
    ] as const) {
      const { code, stdout, stderr } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl });
      expect(code).toBe(0);
      expect(stdout).toContain('https://as.example/authorize?');
      expect(stderr).not.toContain('Opened');
      expect(stderr).toContain(`Could not open a browser: ${reason}. Open the authorization URL above in a browser yourself.`);
      expect(stderr).toContain('The callback URL http://127.0.0.1:8787/callback is on loopback');
      expect(stderr).toContain('ssh -L 8787:127.0.0.1:8787 <user>@<this-host>');
    }
  });

  it('in an SSH session, the tunnel hint comes without --open too', async () => {
    const ssh = await run(['authorize', 'erp'], { url: broker.url, env: { SSH_CONNECTION: '203.0.113.7 50000 198.51.100.2 22' } });
    expect(ssh.code).toBe(0);
    expect(ssh.stderr).toContain('ssh -L 8787:127.0.0.1:8787 <user>@<this-host>');
    const local = await run(['authorize', 'erp'], { url: broker.url });
    expect(local.stderr).toBe('');
  });

  it('--open without a browser for a deployed broker gives no tunnel hint', async () => {
    broker.profiles.set('erp', makeView('erp', {}, { callbackUrl: 'https://broker.example.com/callback' }));
    const { code, stderr } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl: () => Promise.reject(new Error('no graphical display here')) });
    expect(code).toBe(0);
    expect(stderr).toContain('Could not open a browser: no graphical display here.');
    expect(stderr).not.toContain('ssh -L');
  });

  it.each([
    'file:///tmp/setup.exe',
    'javascript:alert(1)',
    'http://as.example/authorize?client_id=x',
    'ms-settings:privacy',
  ])('refuses to open or print an authorization URL like %s (exit 1)', async (authorizationUrl) => {
    broker.onAuthorizeUrl = () => ({ status: 200, body: { authorizationUrl, callbackUrl: 'http://127.0.0.1:8787/callback', expiresAt: new Date(NOW + 600_000).toISOString() } });
    const opened: string[] = [];
    const { code, stdout, stderr } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl: (u) => (opened.push(u), true) });
    expect(code).toBe(1);
    expect(opened).toEqual([]);
    expect(stdout).toBe('');
    expect(stderr).toContain(`The broker answered an authorization URL with the scheme "${new URL(authorizationUrl).protocol}"`);
    expect(stderr).toContain('only https: URLs (http: on loopback) are');
    expect(stderr).not.toContain(authorizationUrl);
  });

  it('the tunnel also reaches an authorization server on loopback (the demo server)', async () => {
    broker.onAuthorizeUrl = () => ({ status: 200, body: { authorizationUrl: 'http://127.0.0.1:8788/auth?client_id=demo', callbackUrl: 'http://127.0.0.1:8787/callback', expiresAt: new Date(NOW + 600_000).toISOString() } });
    const { stderr } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl: () => false });
    expect(stderr).toContain('ssh -L 8787:127.0.0.1:8787 -L 8788:127.0.0.1:8788 <user>@<this-host>');
  });

  it('opens an http: authorization URL on loopback (local mode)', async () => {
    broker.onAuthorizeUrl = () => ({ status: 200, body: { authorizationUrl: 'http://127.0.0.1:8788/auth?client_id=demo', callbackUrl: 'http://127.0.0.1:8787/callback', expiresAt: new Date(NOW + 600_000).toISOString() } });
    const opened: string[] = [];
    const { code } = await run(['authorize', 'erp', '--open'], { url: broker.url, openUrl: (u) => (opened.push(u), true) });
    expect(code).toBe(0);
    expect(opened).toEqual(['http://127.0.0.1:8788/auth?client_id=demo']);
  });

  it('--wait polls until the profile turns ready (exit 0)', async () => {
    broker.onGetProfile = (id, count) => {
      if (id === 'erp' && count === 4) broker.profiles.set('erp', makeView('erp', readyStatus()));
    };
    const { code, stdout, stderr } = await run(['authorize', 'erp', '--wait'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout).toContain('https://as.example/authorize?');
    expect(stdout).toContain('✓ "erp" is ready: access token expires in 59m.');
    // Not a TTY: a label and one dot per poll, no spinner.
    expect(stderr).toBe('Waiting for "erp" to be authorized…...\n');
    const polls = broker.requests.filter((r) => r.method === 'GET' && r.path === '/profiles/erp');
    expect(polls).toHaveLength(4); // the state before, then three polls
  });

  it('--wait draws a spinner on a TTY and nothing with --json', async () => {
    broker.onGetProfile = (id, count) => {
      if (count === 3) broker.profiles.set(id, makeView(id, readyStatus()));
    };
    const tty = await run(['authorize', 'erp', '--wait'], { url: broker.url, isTTY: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/\r[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Waiting for "erp" to be authorized… \d+s/);
    expect(tty.stderr.endsWith('\r\u001b[K')).toBe(true);

    broker.profiles.set('erp', makeView('erp'));
    broker.onGetProfile = (id, count) => {
      if (count === 6) broker.profiles.set(id, makeView(id, readyStatus()));
    };
    const json = await run(['authorize', 'erp', '--wait', '--json'], { url: broker.url, isTTY: true });
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    const [start, done] = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(start.authorizationUrl).toMatch(/^https:\/\/as\.example\/authorize\?/);
    expect(done).toMatchObject({ id: 'erp', ready: true, state: 'ready', expiresInSeconds: 3570 });
  });

  it('--wait on a profile that was ready waits for a new authorization', async () => {
    broker.onGetProfile = (id, count) => {
      if (id === 'demo' && count === 3) {
        broker.profiles.set('demo', makeView('demo', { ...readyStatus(), lastAuthorizedAt: '2026-11-28T09:00:00.000Z' }));
      }
    };
    const { code } = await run(['authorize', 'demo', '--wait'], { url: broker.url });
    expect(code).toBe(0);
    expect(broker.requests.filter((r) => r.path === '/profiles/demo')).toHaveLength(3);
  });

  it('--wait times out with exit 3', async () => {
    const { code, stderr } = await run(['authorize', 'erp', '--wait', '--timeout', '2'], { url: broker.url, ...fakeTime() });
    expect(code).toBe(3);
    expect(stderr).toContain('Timed out after 2s waiting for "erp" to be authorized (state: authorization_required)');
    expect(broker.requests.filter((r) => r.path === '/profiles/erp')).toHaveLength(5);
  });

  it('--wait fails with exit 1 when the profile turns to error', async () => {
    broker.onGetProfile = (id, count) => {
      if (count === 2) {
        broker.profiles.set(id, makeView(id, { state: 'error', lastError: { code: 'invalid_client', message: 'Client authentication failed.', at: '2026-11-28T09:00:00.000Z' } }));
      }
    };
    const { code, stderr } = await run(['authorize', 'erp', '--wait'], { url: broker.url });
    expect(code).toBe(1);
    expect(stderr).toContain('invalid_client: Client authentication failed.');
  });

  it('--wait ends at once with exit 1 when the callback records a lastError, whatever the state', async () => {
    broker.onGetProfile = (id, count) => {
      if (id === 'erp' && count === 3) {
        broker.profiles.set(id, makeView(id, {
          state: 'authorization_required',
          lastError: { code: 'invalid_client', message: 'The authorization server did not accept the client.', at: new Date(NOW + 1000).toISOString() },
        }));
      }
    };
    const { code, stderr } = await run(['authorize', 'erp', '--wait'], { url: broker.url });
    expect(code).toBe(1);
    expect(stderr).toContain('The authorization of "erp" failed: invalid_client: The authorization server did not accept the client. ');
    expect(stderr).toContain('oauth-broker authorize erp --open --wait');
    expect(stderr).not.toContain('Timed out');
    expect(broker.requests.filter((r) => r.path === '/profiles/erp')).toHaveLength(3);

    const status = await run(['status', 'erp'], { url: broker.url });
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/✗\s+erp\s+authorization_required\s+-\s+invalid_client: The authorization server did not accept the client\./);
  });

  it('--wait with --json reports the failure as authorization_failed', async () => {
    broker.onGetProfile = (id, count) => {
      if (count === 2) broker.profiles.set(id, makeView(id, { lastError: { code: 'access_denied', message: 'The user denied the request.', at: new Date(NOW).toISOString() } }));
    };
    const { code, stderr } = await run(['authorize', 'erp', '--wait', '--json'], { url: broker.url });
    expect(code).toBe(1);
    expect(JSON.parse(stderr)).toMatchObject({ error: 'authorization_failed', message: expect.stringContaining('access_denied: The user denied the request.') });
  });

  it('--wait ignores a lastError recorded before the wait started', async () => {
    broker.onGetProfile = (id, count) => {
      // Another (older) error shows up: recorded ten minutes before this wait began.
      if (count === 2) broker.profiles.set(id, makeView(id, { lastError: { code: 'server_error', message: 'HTTP 502', at: new Date(NOW - 600_000).toISOString() } }));
    };
    const { code, stderr } = await run(['authorize', 'erp', '--wait', '--timeout', '1'], { url: broker.url, ...fakeTime() });
    expect(code).toBe(3);
    expect(stderr).toContain('Timed out');
  });

  it('a client_credentials profile: 409 conflict is a failure (exit 1), not "not ready"', async () => {
    broker.profiles.set('m2m', makeView('m2m', readyStatus(), { grantType: 'client_credentials', authorizationUrl: null }));
    const { code, stderr } = await run(['authorize', 'm2m'], { url: broker.url });
    expect(code).toBe(1);
    expect(stderr).toContain('uses the client_credentials grant');
  });
});

describe('token', () => {
  it('prints only the token', async () => {
    const { code, stdout, stderr } = await run(['token', 'demo'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout).toBe('token-demo\n');
    expect(stderr).toBe('');
    expect(broker.requests[0]?.path).toBe('/profiles/demo/token');
    expect(broker.requests[0]?.query.has('minValiditySeconds')).toBe(false);
  });

  it('--min-validity is passed on; --json prints the broker\'s answer', async () => {
    const { code, stdout } = await run(['token', 'demo', '--min-validity', '300', '--json'], { url: broker.url });
    expect(code).toBe(0);
    expect(broker.requests[0]?.query.get('minValiditySeconds')).toBe('300');
    expect(JSON.parse(stdout)).toMatchObject({ access_token: 'token-demo', token_type: 'Bearer', expires_in: 3600, scope: 'api.read' });
  });

  it('not ready: exit 3 with the contract message and how to authorize', async () => {
    const { code, stdout, stderr } = await run(['token', 'erp'], { url: broker.url });
    expect(code).toBe(3);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'oauth-broker: Profile "erp" has no grant: a person must open its authorization URL and consent.\n' +
        'Authorize it with: oauth-broker authorize erp --open --wait\n',
    );
  });

  it('503: exit 1 with Retry-After', async () => {
    broker.profiles.set('erp', makeView('erp', { state: 'expired' }));
    const { code, stderr } = await run(['token', 'erp'], { url: broker.url });
    expect(code).toBe(1);
    expect(stderr).toContain('No valid token for "erp" right now.');
    expect(stderr).toContain('Retry after 30s.');
    const json = await run(['token', 'erp', '--json'], { url: broker.url });
    expect(JSON.parse(json.stderr)).toEqual({ error: 'temporarily_unavailable', message: 'No valid token for "erp" right now.', status: 503, retryAfterSeconds: 30 });
  });
});

describe('refresh', () => {
  it('ready afterwards: exit 0', async () => {
    const { code, stdout } = await run(['refresh', 'demo'], { url: broker.url });
    expect(code).toBe(0);
    expect(stdout).toBe('✓ Refreshed "demo": access token expires in 59m.\n');
    expect(broker.requests[0]).toMatchObject({ method: 'POST', path: '/profiles/demo/refresh' });
  });

  it('authorization_required afterwards (grant revoked): exit 3', async () => {
    broker.onRefresh = (id) => ({
      status: 200,
      body: makeView(id, { state: 'authorization_required', lastError: { code: 'invalid_grant', message: 'grant revoked', at: '2026-11-28T09:00:00.000Z' } }),
    });
    const { code, stdout, stderr } = await run(['refresh', 'demo'], { url: broker.url });
    expect(code).toBe(3);
    expect(stdout).toContain('✗ "demo" is authorization_required after the refresh: invalid_grant: grant revoked');
    expect(stderr).toContain('oauth-broker authorize demo --open --wait');
    const json = await run(['refresh', 'demo', '--json'], { url: broker.url });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).status.state).toBe('authorization_required');
  });

  it('a failing refresh: exit 1', async () => {
    broker.onRefresh = (id) => ({ status: 200, body: makeView(id, { ...readyStatus(), state: 'refresh_failing', lastError: { code: 'server_error', message: 'HTTP 502', at: '2026-11-28T09:00:00.000Z' } }) });
    expect((await run(['refresh', 'demo'], { url: broker.url })).code).toBe(1);
  });

  it('409 from the broker: exit 3', async () => {
    broker.onRefresh = () => ({ status: 409, body: { error: 'authorization_required', message: 'Profile "erp" holds no refresh token to refresh with.' } });
    const { code, stderr } = await run(['refresh', 'erp'], { url: broker.url });
    expect(code).toBe(3);
    expect(stderr).toContain('holds no refresh token');
  });
});

describe('policy', () => {
  const role = 'arn:aws:iam::123456789012:role/integrations/erp-sync';

  it('derives the API ARN from an execute-api URL, the account from the role', async () => {
    const { code, stdout, stderr } = await run(['policy', 'erp', '--role', role, '--url', 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'FetchOAuthBrokerTokenErp',
          Effect: 'Allow',
          Action: 'execute-api:Invoke',
          Resource: 'arn:aws:execute-api:eu-central-1:123456789012:a1b2c3d4e5/prod/GET/profiles/erp/token',
        },
      ],
    });
    expect(stderr).toContain('taken from the role ARN');
    expect(stderr).toContain('aws iam put-role-policy --role-name erp-sync --policy-name oauth-broker-token-erp');
  });

  it('takes --api-arn as given (another account), and --json prints only the policy', async () => {
    const { code, stdout, stderr } = await run(['policy', 'my_erp-2', '--role', role, '--api-arn', 'arn:aws:execute-api:us-east-1:210987654321:zz99yy88xx/dev/*', '--json']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const policy = JSON.parse(stdout);
    expect(policy.Statement[0].Resource).toBe('arn:aws:execute-api:us-east-1:210987654321:zz99yy88xx/dev/GET/profiles/my_erp-2/token');
    expect(policy.Statement[0].Sid).toMatch(/^[A-Za-z0-9]+$/);
  });

  it('needs no broker, and refuses what it cannot derive (exit 2)', async () => {
    const local = await run(['policy', 'erp', '--role', role], { url: broker.url });
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('cannot derive the API ARN');
    expect(local.stderr).toContain('--api-arn');

    const badRole = await run(['policy', 'erp', '--role', 'erp-sync', '--url', 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod']);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('--role must be an IAM role ARN');

    const badApi = await run(['policy', 'erp', '--role', role, '--api-arn', 'arn:aws:lambda:eu-west-1:1:function:x']);
    expect(badApi.code).toBe(2);
    expect(broker.requests).toHaveLength(0);
  });
});

describe('connection, signing and debugging', () => {
  it('an unreachable local broker: exit 1 with a hint to start it', async () => {
    const url = broker.url;
    await broker.close();
    const { code, stderr } = await run(['status'], { url });
    expect(code).toBe(1);
    expect(stderr).toContain(`Cannot reach the broker at ${url}`);
    expect(stderr).toContain('npm start');
    noStack(stderr);
    broker = await startFakeAdminBroker();
  });

  it('--debug adds the stack trace', async () => {
    const { code, stderr } = await run(['profiles', 'get', 'nope', '--debug'], { url: broker.url });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^\s+at /m);
  });

  it('--url overrides BROKER_URL', async () => {
    const { code, stdout } = await run(['token', 'demo', '--url', broker.url], { url: 'http://127.0.0.1:1' });
    expect(code).toBe(0);
    expect(stdout).toBe('token-demo\n');
  });

  it('signs with SigV4 when the URL is not loopback, through the SDK\'s signing code', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = [];
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      seen.push({ url: String(input), headers });
      return new Response(JSON.stringify({ access_token: 'cloud-token', token_type: 'Bearer', expires_at: '2026-11-28T10:00:00.000Z', expires_in: 3600, scope: '' }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    const { code, stdout } = await run(['token', 'erp'], {
      url: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod',
      fetch,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    });
    expect(code).toBe(0);
    expect(stdout).toBe('cloud-token\n');
    expect(seen[0]?.url).toBe('https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod/profiles/erp/token');
    expect(seen[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-central-1\/execute-api\/aws4_request, /);
    expect(seen[0]?.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it('signs for --region or AWS_REGION on a custom domain, and not at all on loopback', async () => {
    const seen: Record<string, string>[] = [];
    const fetch = async (_input: string | URL | Request, init?: RequestInit) => {
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      seen.push(headers);
      return new Response(JSON.stringify({ profiles: [] }), { status: 200 });
    };
    const credentials = { accessKeyId: 'AKID', secretAccessKey: 'SECRET' };
    await run(['status', '--region', 'ap-south-1'], { url: 'https://broker.example.com/v1', fetch, credentials });
    await run(['status'], { url: 'https://broker.example.com/v1', fetch, credentials, env: { AWS_REGION: 'eu-north-1' } });
    await run(['status'], { url: broker.url, fetch, credentials, env: { AWS_REGION: 'eu-north-1' } });
    expect(seen[0]?.authorization).toContain('/ap-south-1/execute-api/aws4_request');
    expect(seen[1]?.authorization).toContain('/eu-north-1/execute-api/aws4_request');
    expect(seen[2]?.authorization).toBeUndefined();
    expect(seen[2]?.['x-amz-date']).toBeUndefined();
  });

  it('a 403 from API Gateway explains what to check', async () => {
    const fetch = async () => new Response(JSON.stringify({ message: 'User: arn:aws:sts::1:assumed-role/x is not authorized to perform: execute-api:Invoke' }), { status: 403 });
    const { code, stderr } = await run(['status'], {
      url: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod',
      fetch,
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    });
    expect(code).toBe(1);
    expect(stderr).toContain('is not authorized to perform: execute-api:Invoke');
    expect(stderr).toContain('execute-api:Invoke on this route');
  });
});
