/**
 * Cold start: what the token path's modules load when they are evaluated. esbuild reads the import graph
 * exactly as the CDK app's bundler does.
 */
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

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

  it('lib/events.ts imports the EventBridge SDK only dynamically', async () => {
    // Act
    const metafile = await importGraph('lib/events.ts');

    // Assess
    const eventBridge = externalImports(metafile).filter((i) => i.path === '@aws-sdk/client-eventbridge');
    expect(eventBridge.length).toBeGreaterThan(0);
    expect(eventBridge.every((i) => i.kind === 'dynamic-import')).toBe(true);
  });

  it('lib/shared.ts imports nothing', async () => {
    // Act
    const metafile = await importGraph('lib/shared.ts');

    // Assess
    expect(Object.keys(metafile.inputs)).toEqual(['lib/shared.ts']);
    expect(externalImports(metafile)).toEqual([]);
  });
});
