/**
 * Snapshots of the synthesized templates, with asset hashes normalised so that they change with the
 * infrastructure, not with every edit of the function code. Review a changed snapshot like a diff of the
 * infrastructure; update it with `npx vitest run test/cdk -u`.
 */
import { describe, expect, it } from 'vitest';
import { normalisedTemplate, synth } from './support.js';

describe('template snapshots', () => {
  it.each(['dev', 'prod'])('%s', (env) => {
    const { template } = synth({ env });
    const json = normalisedTemplate(template);
    expect(JSON.stringify(json)).not.toMatch(/[0-9a-f]{64}/);
    expect(json).toMatchSnapshot();
  });
});
