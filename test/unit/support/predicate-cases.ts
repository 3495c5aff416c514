/**
 * One test per input of a yes/no function: the inputs it must accept and those it must refuse, each
 * named `<input> → true` or `<input> → false`.
 */
import { expect, it } from 'vitest';

export function itAnswers(predicate: (input: string) => boolean, inputs: { true: readonly string[]; false: readonly string[] }): void {
  const cases = [...inputs.true.map((input) => [input, true] as const), ...inputs.false.map((input) => [input, false] as const)];
  it.each(cases)('%s → %s', (input, expected) => {
    expect(predicate(input)).toBe(expected);
  });
}
