import { describe, expect, it } from 'vitest';
import { describeJsonSyntaxError, findJsonSyntaxError } from '../../../lib/cli/json-syntax.js';

describe('findJsonSyntaxError', () => {
  it.each([
    '{}',
    '[]',
    ' {"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9"], "b": {}} ',
    '"just a string"',
    '0',
    '[[[[[[[[[[]]]]]]]]]]',
  ])('finds nothing wrong in %s', (text) => {
    // Prepare: the reference is JSON.parse.
    expect(() => JSON.parse(text)).not.toThrow();

    // Act / Assess
    expect(findJsonSyntaxError(text)).toBeUndefined();
  });

  it.each<[string, string, { line: number; column: number; atEnd: boolean }]>([
    ['a trailing comma', '{"a": 1, }', { line: 1, column: 10, atEnd: false }],
    ['an unquoted value', '{\n  "a": secret\n}', { line: 2, column: 8, atEnd: false }],
    ['a misspelt literal', '[tru]', { line: 1, column: 5, atEnd: false }],
    ['a single-quoted key', "{'a': 1}", { line: 1, column: 2, atEnd: false }],
    ['a missing colon', '{"a" 1}', { line: 1, column: 6, atEnd: false }],
    ['content after the value', '{"a": 1}\n}', { line: 2, column: 1, atEnd: false }],
    ['a control character in a string', '["a\tb"]', { line: 1, column: 4, atEnd: false }],
    ['a bad escape', '["a\\x"]', { line: 1, column: 5, atEnd: false }],
    ['an unterminated string', '{"a": "abc', { line: 1, column: 11, atEnd: true }],
    ['an unclosed object', '{"a": 1', { line: 1, column: 8, atEnd: true }],
    ['an empty text', '', { line: 1, column: 1, atEnd: true }],
    ['a leading zero', '[01]', { line: 1, column: 3, atEnd: false }],
  ])('locates %s', (_, text, expected) => {
    // Prepare
    expect(() => JSON.parse(text)).toThrow();

    // Act
    const error = findJsonSyntaxError(text);

    // Assess
    expect(error).toMatchObject(expected);
  });

  it('handles deep nesting without recursion', () => {
    // Prepare
    const text = '['.repeat(100_000) + ']'.repeat(99_999);

    // Act
    const error = findJsonSyntaxError(text);

    // Assess
    expect(error).toMatchObject({ atEnd: true, offset: text.length });
  });
});

describe('describeJsonSyntaxError', () => {
  it('names the position, never the content', () => {
    // Prepare
    const secret = 'zz-Distinctive-Secret-Value-93e1c7';

    // Act
    const described = describeJsonSyntaxError(`{"clientSecret": ${secret}}`);

    // Assess
    expect(described).toBe('syntax error at line 1, column 18');
    expect(described).not.toContain(secret.slice(0, 4));
  });
});
