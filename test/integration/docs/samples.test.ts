/**
 * The docs' samples are real output: every ```console block of docs/cli.md and
 * docs/local-mode.md is run, command by command and in document order, against local mode with its demo
 * authorization server, and each command's output (stdout and stderr as a terminal interleaves them) must
 * match the lines that follow it. `…` in a sample stands for text that changes from run to run (a time, a
 * state). local-mode.md's "Your own profile" recipe is followed as written: its profile file is taken from
 * the page, and `--open` consents in headless Chromium.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.js';
import { HumanLog } from '../../../lib/local/human-log.js';
import { startLocalBroker, type LocalBroker } from '../../../lib/local/local-broker.js';
import { completeConsentInChromium } from '../../support/consent.js';

const ROOT = new URL('../../../', import.meta.url);
const DOCS = ['docs/cli.md', 'docs/local-mode.md'];
/** What the docs show for the broker and the demo server (the defaults of npm start). */
const DOC_BROKER = 'http://127.0.0.1:8787';
const DOC_ISSUER = 'http://127.0.0.1:8788';

interface Sample {
  doc: string;
  line: number;
  argv: string[];
  expected: string[];
}

/** The `$ npx oauth-broker …` commands of every ```console block, with the lines that follow each. */
function samplesOf(doc: string, markdown: string): Sample[] {
  const samples: Sample[] = [];
  const lines = markdown.split('\n');
  let inBlock = false;
  let current: Sample | undefined;
  lines.forEach((text, index) => {
    if (!inBlock && text.trim() === '```console') {
      inBlock = true;
      return;
    }
    if (inBlock && text.trim() === '```') {
      inBlock = false;
      current = undefined;
      return;
    }
    if (!inBlock) return;
    if (text.startsWith('$ ')) {
      const words = text.slice(2).trim().split(/\s+/);
      if (words[0] !== 'npx' || words[1] !== 'oauth-broker') throw new Error(`${doc}:${index + 1}: a console sample runs only "npx oauth-broker …": ${text}`);
      current = { doc, line: index + 1, argv: words.slice(2), expected: [] };
      samples.push(current);
    } else if (current) {
      current.expected.push(text);
    } else {
      throw new Error(`${doc}:${index + 1}: output before any command`);
    }
  });
  return samples;
}

/** A sample line as a pattern: literal text, `…` for anything. */
function linePattern(line: string): RegExp {
  return new RegExp(`^${line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

let local: LocalBroker;
let work: string;
let consents: Promise<unknown>[] = [];
const logged: string[] = [];

async function cli(argv: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const write = { write: (chunk: string) => (output += chunk) };
  const code = await main(argv, {
    stdout: write,
    stderr: write,
    env: { BROKER_URL: local.url },
    isTTY: false,
    readFile: (file) => readFile(path.resolve(work, file), 'utf8'),
    openUrl: (url) => {
      // The person's browser: headless Chromium logs in and consents, while the CLI waits.
      consents.push(completeConsentInChromium(url));
      return true;
    },
    pollIntervalMs: 250,
  });
  // As the docs show it: the broker and the demo server on their default ports, paths relative.
  const normalized = output
    .replaceAll(local.url, DOC_BROKER)
    .replaceAll(local.demo!.issuer, DOC_ISSUER)
    .replaceAll(`${work}${path.sep}`, '');
  return { code, output: normalized };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'oauth-broker-docs-'));
  local = await startLocalBroker({
    port: 0,
    demoPort: 0,
    dataDir: path.join(work, 'data'),
    refreshOnStart: false,
    logger: new HumanLog({ write: (line) => logged.push(line) }),
  });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(consents);
  await local?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docs samples are real output', () => {
  it('local-mode.md: its profile files name the demo server\'s clients; they are written as the page says', async () => {
    const markdown = await readFile(new URL('docs/local-mode.md', ROOT), 'utf8');
    const files = [...markdown.matchAll(/cat > (\S+\.json) <<'JSON'\n([\s\S]*?)\nJSON/g)];
    expect(files.map((m) => m[1])).toEqual(['my-app.json', 'broken.json']);
    for (const [, name, json] of files) {
      const profile = JSON.parse(json!) as Record<string, unknown>;
      expect(profile).toMatchObject({ issuer: DOC_ISSUER, clientId: 'my-app' });
      // The demo server listens where this test put it; everything else as written.
      await writeFile(path.join(work, name!), JSON.stringify({ ...profile, issuer: local.demo!.issuer }));
    }
  });

  it('every console sample of the docs, in order', async () => {
    const samples: Sample[] = [];
    for (const doc of DOCS) samples.push(...samplesOf(doc, await readFile(new URL(doc, ROOT), 'utf8')));
    expect(samples.length).toBeGreaterThanOrEqual(6);
    expect(samples.map((s) => s.argv.join(' '))).toEqual(
      expect.arrayContaining(['profiles put my-app --file my-app.json', 'authorize my-app --open --wait', 'status my-app', 'status', 'authorize broken --open --wait', 'status broken']),
    );

    for (const sample of samples) {
      const where = `${sample.doc}:${sample.line} $ npx oauth-broker ${sample.argv.join(' ')}`;
      const { output } = await cli(sample.argv);
      await Promise.all(consents);
      consents = [];
      const actual = output.replace(/\n$/, '').split('\n');
      expect(actual.length, `${where}\n--- real output:\n${output}`).toBe(sample.expected.length);
      actual.forEach((line, i) => {
        expect(line, `${where}, line ${i + 1}\n--- real output:\n${output}`).toMatch(linePattern(sample.expected[i]!));
      });
    }
    expect(logged.filter((line) => / ERROR /.test(line))).toEqual([]);
  });
});
