/**
 * Where a JSON text stops being JSON (RFC 8259), to say so without quoting it: `JSON.parse`'s own
 * messages can repeat part of the input (`Unexpected token 'a', "{"clientSecret": abc…" is not valid
 * JSON`), and a profile file holds a client secret.
 */

export interface JsonSyntaxError {
  /** Offset of the first character that cannot continue a JSON text (the text's length when it ends early). */
  offset: number;
  /** 1-based line and column (in UTF-16 code units) of `offset`. */
  line: number;
  column: number;
  /** Whether the text ended before the JSON value was complete. */
  atEnd: boolean;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = ['true', 'false', 'null'];

/** The first syntax error of `text`, or `undefined` when `text` is one JSON value. Iterative: any depth. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const offset = firstErrorOffset(text);
  if (offset === undefined) return undefined;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { offset, line, column, atEnd: offset >= text.length };
}

/** `findJsonSyntaxError` as a phrase for a message: position only, never content. */
export function describeJsonSyntaxError(text: string): string {
  const error = findJsonSyntaxError(text);
  if (!error) return 'it is not a single JSON value';
  return error.atEnd
    ? `it ends before the JSON value is complete (line ${error.line}, column ${error.column})`
    : `syntax error at line ${error.line}, column ${error.column}`;
}

function firstErrorOffset(text: string): number | undefined {
  const n = text.length;
  const stack: Array<'{' | '['> = [];
  let i = 0;
  let expect: 'value' | 'key' | 'after' = 'value';

  const skipWhitespace = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  /** At a `"`: moves past the string; false (with `i` at the problem) when it is not a valid string. */
  const string = (): boolean => {
    i++;
    while (i < n) {
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return true;
      }
      if (code < 0x20) return false;
      if (code === 0x5c) {
        const escape = text[i + 1];
        if (escape !== undefined && '"\\/bfnrt'.includes(escape)) {
          i += 2;
          continue;
        }
        if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          i += 6;
          continue;
        }
        i = Math.min(n, i + 1);
        return false;
      }
      i++;
    }
    return false;
  };
  const scalar = (): boolean => {
    const literal = LITERALS.find((word) => text[i] === word[0]);
    if (literal) {
      let k = 0;
      while (k < literal.length && text[i + k] === literal[k]) k++;
      i += k;
      return k === literal.length;
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) return false;
    i = NUMBER.lastIndex;
    return true;
  };

  for (;;) {
    skipWhitespace();
    if (expect === 'value') {
      if (i >= n) return i;
      const c = text[i];
      if (c === '{' || c === '[') {
        stack.push(c);
        i++;
        skipWhitespace();
        if (text[i] === (c === '{' ? '}' : ']')) {
          stack.pop();
          i++;
          expect = 'after';
        } else {
          expect = c === '{' ? 'key' : 'value';
        }
      } else if (c === '"') {
        if (!string()) return i;
        expect = 'after';
      } else {
        if (!scalar()) return i;
        expect = 'after';
      }
    } else if (expect === 'key') {
      if (text[i] !== '"' || !string()) return i;
      skipWhitespace();
      if (text[i] !== ':') return i;
      i++;
      expect = 'value';
    } else {
      const top = stack.at(-1);
      if (top === undefined) return i < n ? i : undefined;
      if (text[i] === ',') {
        i++;
        expect = top === '{' ? 'key' : 'value';
      } else if (text[i] === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
      } else {
        return i;
      }
    }
  }
}
