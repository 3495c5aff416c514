import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { METRIC_REASONS, PowertoolsMetrics, metricReason } from '../../lib/metrics.js';

describe('metricReason', () => {
  it.each([...METRIC_REASONS])('keeps %s', (code) => {
    // Act / Assess
    expect(metricReason(code)).toBe(code);
  });

  it.each(['invalid_token', 'vendor_specific_error', 'Invalid_Grant', 'a'.repeat(64), ''])('maps %s to other', (code) => {
    // Act / Assess
    expect(metricReason(code)).toBe('other');
  });

  it('covers the standard OAuth error codes of RFC 6749 §5.2 and the broker\'s own', () => {
    // Act / Assess
    expect(METRIC_REASONS).toEqual(
      expect.arrayContaining([
        'invalid_request',
        'invalid_client',
        'invalid_grant',
        'unauthorized_client',
        'unsupported_grant_type',
        'invalid_scope',
        'network_error',
        'server_error',
        'invalid_response',
        'invalid_configuration',
        'no_refresh_token',
        'vault_write_failed',
      ]),
    );
  });
});

describe('PowertoolsMetrics.refresh', () => {
  let written: string[];
  const saved = { dev: process.env.POWERTOOLS_DEV, disabled: process.env.POWERTOOLS_METRICS_DISABLED };

  beforeEach(() => {
    written = [];
    delete process.env.POWERTOOLS_DEV;
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });

  afterEach(() => {
    for (const [name, value] of [['POWERTOOLS_DEV', saved.dev], ['POWERTOOLS_METRICS_DISABLED', saved.disabled]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  /** The EMF documents written so far. */
  const documents = () => written.flatMap((text) => text.split('\n')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

  it('writes a server-chosen reason as "other", a known one as itself', () => {
    // Prepare
    const metrics = new PowertoolsMetrics({ namespace: 'Test', serviceName: 'test' });

    // Act
    metrics.refresh('failing', 'schedule', 'acme_custom_error_7f3a');
    metrics.refresh('failing', 'schedule', 'invalid_grant');
    metrics.refresh('refreshed', 'schedule');

    // Assess
    const reasons = documents().map((document) => document.reason);
    expect(reasons).toEqual(['other', 'invalid_grant', undefined]);
    expect(written.join('')).not.toContain('acme_custom_error_7f3a');
  });

  it('counts served tokens without writing, then writes one document a minute: served, misses, fewest seconds to expiry', () => {
    // Prepare
    let now = 1_000_000;
    const metrics = new PowertoolsMetrics({ namespace: 'Test', serviceName: 'test' }, () => now);

    // Act
    metrics.tokenServed(100, 'cache');
    metrics.tokenServed(50, 'store');
    metrics.tokenServed(200, 'cache');
    const beforeTheMinute = documents().length;
    now += 60_000;
    metrics.tokenServed(300, 'refresh');

    // Assess
    expect(beforeTheMinute).toBe(0);
    const [document, ...more] = documents();
    expect(more).toEqual([]);
    expect(document).toMatchObject({ TokensServed: 4, TokenCacheMisses: 2, TokenSecondsToExpiry: 50 });
  });

  it('flush writes nothing when no token was served since the last one', () => {
    // Prepare
    const metrics = new PowertoolsMetrics({ namespace: 'Test', serviceName: 'test' });
    metrics.tokenServed(10, 'cache');
    metrics.flush();

    // Act
    metrics.flush();

    // Assess
    expect(documents()).toHaveLength(1);
  });
});
