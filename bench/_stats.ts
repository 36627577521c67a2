/**
 * Statistics the bench reports share.
 *
 * @module
 */

/**
 * The middle value; for an even count, the mean of the two middle ones.
 * The input is left as it is.
 *
 * @param values Figures of the rounds (at least one).
 * @returns Their median.
 */
export function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
