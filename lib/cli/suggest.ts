/**
 * "Did you mean …?" for mistyped commands and options: the closest known name by edit distance,
 * offered only when it is close enough to be a typo rather than another word.
 */

/**
 * The edit distance between `a` and `b`: Levenshtein's insertions, deletions and substitutions, plus the
 * swap of two neighbours as one edit (optimal string alignment), the commonest typo (`stauts`).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `input`, when at most about a third of it differs (at least one edit, so that
 * `tokn` finds `token`); `undefined` otherwise. Ties go to the earlier candidate.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(input.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(input.toLowerCase(), name.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** ` Did you mean "x"?`, or the empty string when nothing is close. */
export function didYouMean(input: string, candidates: readonly string[], format: (name: string) => string = (name) => `"${name}"`): string {
  const match = closest(input, candidates);
  return match === undefined ? '' : ` Did you mean ${format(match)}?`;
}

/** `message` followed by the suggestion as its own sentence, when there is one. */
export function withSuggestion(message: string, suggestion: string): string {
  return suggestion ? `${message}.${suggestion}` : message;
}
