/**
 * The consumer SDK as a user gets it: `npm pack` of the workspace package (which builds it through
 * `prepare`), installed from the tarball into a separate project, imported by its package name from
 * JavaScript and type-checked from TypeScript, then used against a broker on loopback.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type Finished } from '../../support/run-process.js';
import { errorBody, startFakeServer, tokenBody, type FakeServer } from '../../unit/sdk/fake-broker.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

function exec(file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Finished> {
  return runProcess(file, args, { cwd, env: { ...process.env, ...env }, timeout: 170_000 });
}

const CONSUMER_JS = `import { TokenClient, BrokerApiError, createOAuthFetch } from '@oauth-broker/sdk';

const client = new TokenClient({ baseUrl: process.env.BROKER_URL });
const token = await client.getToken('erp', { minValiditySeconds: 300 });
let missing;
try {
  await client.getToken('missing');
} catch (error) {
  missing = { isBrokerApiError: error instanceof BrokerApiError, code: error.code, status: error.status };
}
const resource = await createOAuthFetch(client, 'erp')(process.env.BROKER_URL + '/resource');
console.log(JSON.stringify({ accessToken: token.accessToken, expiresAt: token.expiresAt instanceof Date, signed: client.signed, missing, resource: resource.status }));
`;

const CONSUMER_TS = `import { TokenClient, BrokerApiError, type AccessToken } from '@oauth-broker/sdk';

const client = new TokenClient({ baseUrl: 'http://127.0.0.1:8787' });
export async function bearer(): Promise<string> {
  try {
    const token: AccessToken = await client.getToken('erp', { minValiditySeconds: 300 });
    return \`\${token.tokenType} \${token.accessToken} until \${token.expiresAt.toISOString()}\`;
  } catch (error) {
    if (error instanceof BrokerApiError && error.code === 'authorization_required') return '';
    throw error;
  }
}
`;

/** Must not compile: proves the declarations are real, not `any`. */
const WRONG_TS = `import { TokenClient } from '@oauth-broker/sdk';

const client = new TokenClient({ baseUrl: 'http://127.0.0.1:8787' });
export const seconds: number = (await client.getToken('erp')).accessToken;
`;

const TSCONFIG = JSON.stringify({
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, lib: ['ES2023', 'DOM'], types: [] },
});

let work: string;
let project: string;
let tarball: string;
let broker: FakeServer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oauth-broker-sdk-pack-'));
  const packed = await exec('npm', ['pack', '--workspace', '@oauth-broker/sdk', '--pack-destination', work, '--json'], ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const [entry] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, entry!.filename);
  packedFiles = entry!.files.map((file) => file.path);

  project = join(work, 'consumer');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // From the tarball; its dependencies from the npm cache, else the registry.
  const installed = await exec('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], project);
  expect(installed.code, installed.stderr).toBe(0);

  broker = await startFakeServer((request) => {
    if (request.path === '/profiles/erp/token') return { status: 200, body: tokenBody('packed-token'), headers: { 'cache-control': 'no-store' } };
    if (request.path === '/resource') {
      return request.headers.authorization === 'Bearer packed-token' ? { status: 204 } : { status: 401 };
    }
    return { status: 404, body: errorBody('not_found', 'Profile "missing" does not exist.') };
  });
}, 180_000);

afterAll(async () => {
  await broker?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

let packedFiles: string[] = [];

describe('@oauth-broker/sdk from a packed tarball', () => {
  it('ships the bundle, its declarations and README, and no sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/types/sdk/index.d.ts']));
    expect(packedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(packedFiles.some((path) => path.startsWith('lib/') || path.includes('build.mjs'))).toBe(false);
  });

  it('installs with its few dependencies only', async () => {
    const top = await readdir(join(project, 'node_modules'));
    expect(top).toContain('@oauth-broker');
    // No server-side dependency came along.
    for (const name of ['zod', 'oauth4webapi', '@aws-lambda-powertools', 'aws-cdk-lib']) expect(top).not.toContain(name);
  });

  it('is imported by its name and fetches a token from the broker', async () => {
    await writeFile(join(project, 'consumer.mjs'), CONSUMER_JS);
    const ran = await exec(process.execPath, ['consumer.mjs'], project, { BROKER_URL: broker.url });
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({
      accessToken: 'packed-token',
      expiresAt: true,
      signed: false,
      missing: { isBrokerApiError: true, code: 'not_found', status: 404 },
      resource: 204,
    });
    expect(broker.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /profiles/erp/token', 'GET /profiles/missing/token', 'GET /resource']);
  });

  it('carries types a TypeScript consumer compiles against, and that catch mistakes', async () => {
    await writeFile(join(project, 'tsconfig.json'), TSCONFIG);
    await writeFile(join(project, 'consumer.ts'), CONSUMER_TS);
    const good = await exec(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.code).toBe(0);

    await writeFile(join(project, 'wrong.ts'), WRONG_TS);
    const wrong = await exec(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.ts.*TS2322: Type 'string' is not assignable to type 'number'/);
  });
});
