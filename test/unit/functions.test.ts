/**
 * lib/functions.ts against the code: the AWS calls it lists are exactly the `new XxxCommand(` call sites of
 * the modules the Lambda entry points bundle (static and dynamic imports followed from lambdas/), and the
 * item kinds it names are the leading keys the DynamoDB adapter writes.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_ACTIONS, FUNCTIONS, functionKeys, ITEM_KEY_PREFIXES, callTargets, itemKeyPattern } from '../../lib/functions.js';
import { KEY_RING_KEY } from '../../lib/keys/dynamodb-key-ring-store.js';
import { PROJECT_ROOT } from '../../cdk/constructs/functions.js';

/** Commands in bundled modules that no function sends, each with the reason. */
const NOT_SENT_BY_FUNCTIONS: Record<string, string> = {
  CreateTableCommand: 'createTable() in the DynamoDB adapter serves local mode and tests; in AWS the stack creates the table',
};

/** Every module reachable from `entry` through relative value imports (static and dynamic), as absolute paths. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    // Type-only imports are erased from the bundle.
    const source = readFileSync(file, 'utf8').replace(/^(?:import|export)\s+type\s[^;]*;/gm, '');
    const specifiers = [...source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
    for (const spec of specifiers) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  };
  visit(entry);
  return seen;
}

/** `new XxxCommand(` call sites of `files`, by command name, with the modules they are in. */
function commandSites(files: Iterable<string>): Map<string, string[]> {
  const sites = new Map<string, string[]>();
  for (const file of files) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/new\s+(\w+Command)\s*\(/g)) {
      sites.set(name!, [...(sites.get(name!) ?? []), path.relative(PROJECT_ROOT, file)]);
    }
  }
  return sites;
}

const bundled = new Set(functionKeys().flatMap((key) => [...reachable(path.join(PROJECT_ROOT, 'lambdas', FUNCTIONS[key].entry))]));

describe('lib/functions.ts and the call sites', () => {
  it('follows the imports of every entry point into the adapters (the scan sees what the bundles hold)', () => {
    const relative = [...bundled].map((f) => path.relative(PROJECT_ROOT, f));
    expect(relative).toEqual(
      expect.arrayContaining(['lib/adapters/dynamodb-profile-store.ts', 'lib/adapters/secrets-manager-vault.ts', 'lib/events.ts', 'lib/adapters/kms-signer.ts', 'lib/keys/dynamodb-key-ring-store.ts']),
    );
    expect(relative.some((f) => f.startsWith('lib/local/') || f.startsWith('lib/cli/'))).toBe(false);
  });

  it('maps every command the bundled code sends to an IAM action, and knows why any other is not sent', () => {
    const unknown = [...commandSites(bundled).keys()].filter((name) => !(name in COMMAND_ACTIONS) && !(name in NOT_SENT_BY_FUNCTIONS));
    expect(unknown).toEqual([]);
  });

  it('lists exactly the actions of the call sites: no call without a grant, no grant without a call', () => {
    // Prepare
    const sent = new Set([...commandSites(bundled).keys()].filter((name) => name in COMMAND_ACTIONS).map((name) => COMMAND_ACTIONS[name]));
    const listed = new Set(functionKeys().flatMap((key) => callTargets(key).map((t) => t.action)));

    // Assess
    expect([...listed].sort()).toEqual([...sent].sort());
  });

  it('the KMS commands are only in the KMS signer (the signing keys of BROKER_SIGNING_KEYS, docs/keys.md)', () => {
    expect(commandSites(bundled).get('SignCommand')).toEqual(['lib/adapters/kms-signer.ts']);
    expect(commandSites(bundled).get('GetPublicKeyCommand')).toEqual(['lib/adapters/kms-signer.ts']);
  });

  it('a command kept out of the list is really not called by the bundled code', () => {
    for (const [command] of Object.entries(NOT_SENT_BY_FUNCTIONS)) {
      const sites = commandSites(bundled).get(command) ?? [];
      expect(sites).toEqual(['lib/adapters/dynamodb/table.ts']);
      // createTable is defined there and called from no bundled module.
      const callers = [...bundled].filter((f) => /\bcreateTable\s*\(/.test(readFileSync(f, 'utf8').replace(/export\s+async\s+function\s+createTable\s*\(/, '')));
      expect(callers.map((f) => path.relative(PROJECT_ROOT, f))).toEqual([]);
    }
  });

  it('names the leading keys the DynamoDB adapter writes', () => {
    const adapter = readFileSync(path.join(PROJECT_ROOT, 'lib/adapters/dynamodb/items.ts'), 'utf8');
    expect(adapter).toContain(`PROFILE_PREFIX = '${ITEM_KEY_PREFIXES.profile}'`);
    expect(adapter).toContain(`STATE_PREFIX = '${ITEM_KEY_PREFIXES.pending}'`);
    // The signing keys' ring is one item, granted by its exact key.
    expect(KEY_RING_KEY.pk).toBe(ITEM_KEY_PREFIXES.keyRing);
    expect(itemKeyPattern('keyRing')).toBe('KEYRING');
    expect(itemKeyPattern('profile')).toBe('PROFILE#*');
  });
});
