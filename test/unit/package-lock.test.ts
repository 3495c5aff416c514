/**
 * `npm install` leaves the tree clean: the lock file records what the package.json files say,
 * so npm has nothing to rewrite. The root entry once lacked the `bin`, and every install changed the file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const FIELDS = ['name', 'version', 'license', 'bin', 'engines', 'workspaces', 'dependencies', 'devDependencies'] as const;

function recorded(manifest: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(FIELDS.filter((field) => manifest[field] !== undefined).map((field) => [field, manifest[field]]));
}

describe('package-lock.json', () => {
  const lock = read('package-lock.json') as { name: string; version: string; packages: Record<string, Record<string, unknown>> };

  it('records the root package as package.json declares it, bin and workspaces included', () => {
    const root = read('package.json');
    expect(lock.name).toBe(root.name);
    expect(lock.version).toBe(root.version);
    expect(recorded(lock.packages['']!)).toEqual(recorded(root));
  });

  it('records the SDK workspace as packages/sdk/package.json declares it, linked', () => {
    const sdk = read('packages/sdk/package.json');
    expect(recorded(lock.packages['packages/sdk']!)).toEqual(recorded(sdk));
    expect(lock.packages[`node_modules/${sdk.name as string}`]).toEqual({ resolved: 'packages/sdk', link: true });
  });
});
