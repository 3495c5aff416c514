/**
 * `oauth-broker keys` against a local broker (in-process, demo off): the profile's JWKS URL, JWK and a
 * certificate that X509Certificate verifies; the rotation subcommands; usage errors.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import type { KeyRingView, ProfileKeyMaterial } from '../../../lib/keys/signing-keys.js';
import { run } from '../../unit/cli/run.js';
import { callJson, tempDataDir } from '../local/support.js';

let data: Awaited<ReturnType<typeof tempDataDir>>;
let local: LocalBroker;

beforeAll(async () => {
  data = await tempDataDir();
  local = await startLocalBroker({ port: 0, dataDir: data.dir, demo: false, refreshOnStart: false, refreshIntervalSeconds: 3600 });
  const machine = { grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/token' };
  expect((await callJson(local.url, 'PUT', '/profiles/erp', { ...machine, clientId: 'mes-erp', clientAuthMethod: 'private_key_jwt' })).status).toBe(201);
  expect((await callJson(local.url, 'PUT', '/profiles/basic', { ...machine, clientId: 'other', clientSecret: 'a-client-secret' })).status).toBe(201);
});

afterAll(async () => {
  await local?.close();
  await data?.remove();
});

describe('oauth-broker keys', () => {
  it('keys <id> prints the JWKS URL, the key id, the JWK and a certificate made by the key', async () => {
    const { code, stdout } = await run(['keys', 'erp'], { url: local.url });
    expect(code).toBe(0);
    const material = (await callJson<ProfileKeyMaterial>(local.url, 'GET', '/profiles/erp/signing-key')).json;
    expect(stdout).toContain(`JWKS URL (register it as the client's jwks_uri): ${local.url}/jwks`);
    expect(stdout).toContain(`Signing key: ES256 key ${material.current.kid}`);
    expect(stdout).toContain(JSON.stringify(material.current.jwk));
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
    const certificate = new X509Certificate(pem!);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(stdout).toContain(certificate.fingerprint.replace(/:/g, ''));
    expect(stdout).not.toMatch(/PRIVATE KEY|"d":/);
  });

  it('--certificate prints only the PEM; --json the route\'s answer', async () => {
    const pem = await run(['keys', 'erp', '--certificate'], { url: local.url });
    expect(pem.code).toBe(0);
    expect(pem.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(new X509Certificate(pem.stdout).verify(new X509Certificate(pem.stdout).publicKey)).toBe(true);
    const json = await run(['keys', 'erp', '--json'], { url: local.url });
    expect(JSON.parse(json.stdout)).toMatchObject({ profileId: 'erp', clientId: 'mes-erp', current: { alg: 'ES256' }, next: null });
  });

  it('rotate publishes a next key that keys <id> then shows; promote is refused while it is new', async () => {
    const rotated = await run(['keys', 'rotate', '--json'], { url: local.url });
    expect(rotated.code, rotated.stderr).toBe(0);
    const next = (JSON.parse(rotated.stdout) as KeyRingView).keys.find((key) => key.status === 'next')!;
    const shown = await run(['keys', 'erp'], { url: local.url });
    expect(shown.stdout).toContain(`Next key (register it too, before oauth-broker keys promote): ES256 key ${next.kid}`);
    const list = await run(['keys', 'list'], { url: local.url });
    expect(list.stdout).toMatch(new RegExp(`${next.kid}\\s+ES256\\s+next\\s+yes\\s+local`));

    const promote = await run(['keys', 'promote'], { url: local.url });
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/servers may cache the JWKS for 300 s/);
  });

  it('refuses a profile without private_key_jwt, and usage mistakes with exit code 2', async () => {
    const basic = await run(['keys', 'basic'], { url: local.url });
    expect(basic.code).toBe(1);
    expect(basic.stderr).toMatch(/uses client_secret_basic, not private_key_jwt/);
    for (const argv of [['keys'], ['keys', 'rotate', '--alg', 'HS256'], ['keys', 'list', '--kid', 'x'], ['keys', 'erp', 'extra'], ['keys', 'Not An Id'], ['keys', 'promote', '--grace', '5']]) {
      const result = await run(argv, { url: local.url });
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^oauth-broker: /);
    }
  });

  it('profiles put of a private_key_jwt profile says where to register its key', async () => {
    const body = JSON.stringify({ grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'mes-2', clientAuthMethod: 'private_key_jwt' });
    const put = await run(['profiles', 'put', 'erp2', '--file', '-'], { url: local.url, input: body });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(new RegExp(`signed with ES256 key [A-Za-z0-9_-]{43}: register ${local.url}/jwks`));
    expect(put.stdout).toContain('oauth-broker keys erp2');
  });

  it('has help', async () => {
    const help = await run(['keys', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: oauth-broker keys <id>/);
    expect((await run(['--help'])).stdout).toContain('keys <id>');
  });
});
