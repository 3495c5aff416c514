/**
 * A clone is all a reader has: the README and docs/ link only to files inside the repository,
 * and the CLI's, SDK's and local mode's sources cite the contract there (docs/api.md), not a file beside
 * the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MARKDOWN = ['README.md', 'packages/sdk/README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Link targets of Markdown links `[text](target)` and autolinks `<scheme:…>`, outside code. */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const inline = [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
  const auto = [...prose.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]+)>/gi)].map((m) => m[1] as string);
  return [...inline, ...auto];
}

/** The anchors of a Markdown file's headings, as GitHub makes them. */
function anchorsOf(markdown: string): Set<string> {
  const headings = markdown.replace(/```[\s\S]*?```/g, '').match(/^#{1,6} .+$/gm) ?? [];
  return new Set(
    headings.map((heading) =>
      heading
        .replace(/^#+ /, '')
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('links stay inside the repository, to files that exist', () => {
  it.each(MARKDOWN)('%s', (file) => {
    const targets = linkTargets(readFileSync(path.join(ROOT, file), 'utf8'));
    for (const target of targets) {
      expect(target, `${file}: ${target} has a scheme`).not.toMatch(/^[a-z][a-z0-9+.-]*:/i);
      const [pathPart = '', anchor] = target.split('#');
      const resolved = pathPart === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), pathPart);
      const inRepository = path.relative(ROOT, resolved);
      expect(inRepository.startsWith('..'), `${file}: ${target} leaves the repository`).toBe(false);
      expect(existsSync(resolved), `${file}: ${target} does not exist`).toBe(true);
      if (anchor && resolved.endsWith('.md') && existsSync(resolved)) {
        expect([...anchorsOf(readFileSync(resolved, 'utf8'))], `${file}: ${target} names no heading`).toContain(anchor);
      }
    }
  });

  it('makes anchors as GitHub does', () => {
    expect([...anchorsOf('# Title\n## 3. A stable callback URL: the custom domain\n### `PUT /profiles/{id}`: create or replace\n## API Gateway\'s own answers')]).toEqual([
      'title',
      '3-a-stable-callback-url-the-custom-domain',
      'put-profilesid-create-or-replace',
      'api-gateways-own-answers',
    ]);
  });

  it('finds the links it checks (the extractor works)', () => {
    expect(linkTargets('see [api](docs/api.md#errors), <https://example.com> and `[x](../y)`')).toEqual(['docs/api.md#errors', 'https://example.com']);
  });

  it('the CLI, the SDK and local mode cite docs/api.md and docs/design.md, nothing beside the repository', () => {
    const files = ['lib/cli', 'lib/sdk', 'test/unit/cli', 'test/unit/sdk', 'bin', 'packages/sdk'].flatMap((dir) => sourcesUnder(dir)).filter((file) => !file.includes(`${path.sep}dist${path.sep}`));
    files.push(path.join(ROOT, 'lib/local/main.ts'), path.join(ROOT, 'lib/local/demo-authorization-server.ts'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/\.\.\/shared\/|\bAPI\.md\b|\bDESIGN\.md\b/);
    }
  });
});
