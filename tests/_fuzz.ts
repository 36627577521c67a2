/**
 * Seeded random inputs for the fuzz tests: the same seed gives the same
 * cases on every machine, so a failure names the seed and case that
 * reproduce it. `BERTH_FUZZ_SEED` picks another seed and
 * `BERTH_FUZZ_CASES` multiplies the case counts, for longer runs by hand.
 *
 * @module
 */

/** A small deterministic random source (mulberry32). */
export class Random {
  #state: number;

  /** @param seed Any 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** @returns A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * @param below Upper bound (exclusive), > 0.
   * @returns An integer in [0, below).
   */
  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  /**
   * @param items A non-empty list.
   * @returns One of them.
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /**
   * @param length How many bytes.
   * @returns Random bytes.
   */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

/** The seed the fuzz tests start from (`BERTH_FUZZ_SEED`, else a fixed one). */
export function fuzzSeed(): number {
  const text = Deno.env.get("BERTH_FUZZ_SEED");
  return text === undefined ? 0x5eed_b047 : Number(text) >>> 0;
}

/**
 * How many cases to run: `base` times `BERTH_FUZZ_CASES` (1 by default).
 *
 * @param base The count a normal test run uses.
 * @returns The count.
 */
export function fuzzCases(base: number): number {
  const factor = Number(Deno.env.get("BERTH_FUZZ_CASES") ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}

/**
 * Cuts `bytes` into pieces at random offsets (empty pieces never occur).
 *
 * @param random The random source.
 * @param bytes What to cut.
 * @param maxPieces Most pieces.
 * @returns Views into `bytes`, in order, together exactly `bytes`.
 */
export function randomSplit(random: Random, bytes: Uint8Array, maxPieces = 8): Uint8Array[] {
  if (bytes.length === 0) return [];
  const cuts = new Set<number>();
  const wanted = random.int(Math.min(maxPieces, bytes.length));
  for (let i = 0; i < wanted; i++) cuts.add(1 + random.int(bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const cut of sorted) {
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

/**
 * A damaged copy of `bytes`: one to three edits, each a byte changed, a
 * byte inserted, a byte removed, a stretch repeated, or the end cut off.
 *
 * @param random The random source.
 * @param bytes The valid input.
 * @param alphabet Bytes favoured for changes and inserts (delimiters, digits).
 * @returns The damaged copy.
 */
export function mutate(
  random: Random,
  bytes: Uint8Array,
  alphabet: readonly number[] = [],
): Uint8Array {
  let out = Array.from(bytes);
  const edits = 1 + random.int(3);
  const byte = () =>
    alphabet.length > 0 && random.next() < 0.6 ? random.pick(alphabet) : random.int(256);
  for (let e = 0; e < edits; e++) {
    const at = random.int(out.length + 1);
    switch (random.int(5)) {
      case 0:
        if (at < out.length) out[at] = byte();
        break;
      case 1:
        out.splice(at, 0, byte());
        break;
      case 2:
        out.splice(at, 1);
        break;
      case 3: {
        const length = 1 + random.int(16);
        out.splice(at, 0, ...out.slice(at, at + length));
        break;
      }
      default:
        out = out.slice(0, at);
    }
  }
  return Uint8Array.from(out);
}

/** Bytes HTTP and the framings around it treat specially, for {@linkcode mutate}. */
export const DELIMITERS: readonly number[] = [
  0,
  9,
  10,
  13,
  32,
  44,
  48,
  49,
  57,
  58,
  59,
  65,
  70,
  97,
  102,
  255,
];
