import { describe, expect, it } from 'vitest';
import { openerFor } from '../../../lib/cli/browser.js';
import { formatDuration, table, timeToExpiry } from '../../../lib/cli/format.js';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [3599_000, '59m'],
    [3600_000, '1h'],
    [(2 * 3600 + 5 * 60) * 1000, '2h 5m'],
    [47 * 3600_000, '47h'],
    [(3 * 24 + 4) * 3600_000, '3d 4h'],
    [-5000, '0s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('time to expiry: - without a token, expired in the past', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(timeToExpiry({ accessTokenExpiresAt: null }, now)).toBe('-');
    expect(timeToExpiry({ accessTokenExpiresAt: '2025-12-31T23:59:00Z' }, now)).toBe('expired');
    expect(timeToExpiry({ accessTokenExpiresAt: '2026-01-01T00:59:59Z' }, now)).toBe('59m');
  });

  it('table aligns columns, counting ✓ as one character', () => {
    expect(table(['A', 'BB', 'C'], [['✓', 'x', 'last'], ['✗', 'longer', '-']])).toBe(['A  BB      C', '✓  x       last', '✗  longer  -'].join('\n'));
  });
});

describe('openerFor', () => {
  const url = 'https://as.example/authorize?a=1&b=2';
  it('uses xdg-open, open, or start through cmd', () => {
    expect(openerFor(url, 'linux')).toEqual({ command: 'xdg-open', args: [url], verbatim: false });
    expect(openerFor(url, 'darwin')).toEqual({ command: 'open', args: [url], verbatim: false });
    const windows = openerFor(url, 'win32');
    expect(windows.command).toBe('cmd');
    expect(windows.args.at(-1)).toBe('start "" https://as.example/authorize?a=1^&b=2');
  });
});
