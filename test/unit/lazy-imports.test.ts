/**
 * Cold start: what the token path's modules load when they are evaluated, and what each function's bundle
 * holds. esbuild reads the import graph exactly as the CDK app's bundler does.
 */
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../lib/functions.js';

/** The import graph of `entry`, with packages left out of the bundle (their imports are listed, with their kind). */
async function importGraph(entry: string): Promise<esbuild.Metafile> {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  return result.metafile;
}

/** Every import of a package in the graph, with how it is imported. */
function externalImports(metafile: esbuild.Metafile): Array<{ path: string; kind: string }> {
  return Object.values(metafile.inputs).flatMap((input) => input.imports.filter((i) => i.external).map(({ path, kind }) => ({ path, kind })));
}

/**
 * The modules `entry` evaluates when it is evaluated: itself and what it reaches through static imports
 * (`import` statements and `require`), not through `import()`.
 */
function staticallyLoaded(metafile: esbuild.Metafile, entry: string): Set<string> {
  const loaded = new Set<string>([entry]);
  for (const file of loaded) {
    for (const i of metafile.inputs[file]?.imports ?? []) {
      if (!i.external && i.kind !== 'dynamic-import') loaded.add(i.path);
    }
  }
  return loaded;
}

describe('modules of the token path load no more than they need', () => {
  it('lib/profile.ts does not import zod (validation lives in lib/profile-input.ts)', async () => {
    // Act
    const metafile = await importGraph('lib/profile.ts');

    // Assess
    expect(externalImports(metafile).map((i) => i.path)).not.toContain('zod');
    expect(Object.keys(metafile.inputs)).not.toContain('lib/profile-input.ts');
  });

  it('lib/oauth.ts imports neither zod nor the profile validation', async () => {
    // Act
    const metafile = await importGraph('lib/oauth.ts');

    // Assess
    expect(externalImports(metafile).map((i) => i.path)).not.toContain('zod');
    expect(Object.keys(metafile.inputs)).not.toContain('lib/profile-input.ts');
  });

  it('lib/events.ts reaches the EventBridge SDK only through a dynamic import', async () => {
    // Act
    const metafile = await importGraph('lib/events.ts');

    // Assess: the SDK is in the graph (through lib/adapters/eventbridge-client.ts), but no module that
    // lib/events.ts evaluates when it is loaded imports it.
    expect(externalImports(metafile).some((i) => i.path === '@aws-sdk/client-eventbridge')).toBe(true);
    const eager = [...staticallyLoaded(metafile, 'lib/events.ts')].flatMap((file) =>
      (metafile.inputs[file]?.imports ?? []).filter((i) => i.path === '@aws-sdk/client-eventbridge').map(({ kind }) => `${file}: ${kind}`),
    );
    expect(eager.every((i) => i.endsWith(': dynamic-import'))).toBe(true);
    expect(staticallyLoaded(metafile, 'lib/events.ts')).not.toContain('lib/adapters/eventbridge-client.ts');
  });

  it('lib/shared.ts imports nothing', async () => {
    // Act
    const metafile = await importGraph('lib/shared.ts');

    // Assess
    expect(Object.keys(metafile.inputs)).toEqual(['lib/shared.ts']);
    expect(externalImports(metafile)).toEqual([]);
  });
});

/** The bundle of `entry`, tree-shaken as the CDK app bundles it, not minified (function names stay). */
async function bundleText(entry: string): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outfile: 'out/index.mjs',
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

describe("each function's bundle holds the use cases it serves, not the others' (bundle size)", () => {
  /** Use cases only some functions run: profile validation (and zod with it), profile writes, the consent flow. */
  const SERVED_BY = {
    parseProfileInput: ['profiles'],
    putProfile: ['profiles'],
    deleteProfile: ['profiles'],
    // The reads are one group: the keys function reads a profile for its signing key.
    listProfiles: ['profiles', 'keys'],
    getProfile: ['profiles', 'keys'],
    createAuthorizationUrl: ['authorize-url'],
    completeAuthorization: ['callback'],
    runScheduledRefresh: ['refresh'],
    getToken: ['token'],
    // GET /jwks reads the key ring and nothing else: no refresher, no OAuth, no Secrets Manager.
    createRefresher: ['token', 'refresh', 'profiles', 'authorize-url', 'callback', 'keys'],
  } as const;
  const entries = Object.values(FUNCTIONS).map((spec) => spec.entry.replace(/\.ts$/, ''));

  it.each(entries)('lambdas/%s.ts', async (fn) => {
    // Act
    const text = await bundleText(`lambdas/${fn}.ts`);

    // Assess
    for (const [useCase, servedBy] of Object.entries(SERVED_BY)) {
      expect(new RegExp(`\\bfunction ${useCase}\\(`).test(text), `${useCase} in the ${fn} bundle`).toBe((servedBy as readonly string[]).includes(fn));
    }
    expect(importsZod(text), `zod in the ${fn} bundle`).toBe(fn === 'profiles');
  });
});

/** Whether the bundle imports zod (a package, so left out of the bundle and imported by name). */
function importsZod(text: string): boolean {
  return /from\s*["']zod(\/mini)?["']/.test(text);
}
