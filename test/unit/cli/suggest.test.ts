import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../../lib/cli/suggest.js';

describe('editDistance', () => {
  it.each([
    ['status', 'status', 0],
    ['stats', 'status', 1],
    ['stauts', 'status', 1],
    ['tokn', 'token', 1],
    ['kitten', 'sitting', 3],
    ['', 'abc', 3],
    ['abc', '', 3],
    ['ca', 'abc', 3],
  ])('%s → %s is %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('closest', () => {
  const commands = ['profiles', 'status', 'authorize', 'token', 'refresh', 'policy', 'help'];

  it('finds a typo, case-insensitively', () => {
    expect(closest('stauts', commands)).toBe('status');
    expect(closest('Refesh', commands)).toBe('refresh');
    expect(closest('authorise', commands)).toBe('authorize');
  });

  it('offers nothing for another word', () => {
    expect(closest('frobnicate', commands)).toBeUndefined();
    expect(closest('list', commands)).toBeUndefined();
    expect(closest('x', commands)).toBeUndefined();
  });

  it('prefers the nearest candidate', () => {
    expect(closest('tokens', ['tokenize', 'token'])).toBe('token');
  });

  it('didYouMean formats the sentence, or nothing', () => {
    expect(didYouMean('opne', ['open', 'wait'], (name) => `--${name}`)).toBe(' Did you mean --open?');
    expect(didYouMean('zzz', ['open'])).toBe('');
  });
});
