/**
 * Seeded random inputs for the fuzz tests: the same seed gives the same
 * cases on every machine, so a failure names the seed and case that
 * reproduce it. `BERTH_FUZZ_SEED` picks another seed and
 * `BERTH_FUZZ_CASES` multiplies the case counts, for longer runs by hand.
 *
 * Besides the random source, the helpers every fuzz test shares: how a
 * failing case is named (seed, case, input) and how inputs are cut.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerError, DockerProtocolError } from "../src/errors.ts";

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

/**
 * Picks a tier with one roll, then draws from it: the first tier whose
 * bound the roll is below (bounds ascending, the last one 1).
 *
 * @param random The random source.
 * @param tiers Each an upper bound of the roll and what to draw then.
 * @returns The draw.
 */
export function tiered<T>(
  random: Random,
  tiers: readonly (readonly [below: number, draw: () => T])[],
): T {
  const roll = random.next();
  const tier = tiers.find(([below]) => roll < below) ?? tiers.at(-1)!;
  return tier[1]();
}

/**
 * Shuffles `items` in place (Fisher–Yates).
 *
 * @param random The random source.
 * @param items The list.
 * @returns The list.
 */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Cuts `bytes` for serving or decoding: usually a few random cuts, now and
 * then one byte per piece, or none.
 *
 * @param random The case's random source.
 * @param bytes The whole.
 * @returns The pieces (none for no bytes).
 */
export function cutUp(random: Random, bytes: Uint8Array): Uint8Array[] {
  const roll = random.next();
  if (roll < 0.05 && bytes.length <= 400) {
    return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
  }
  if (roll < 0.15) return bytes.length === 0 ? [] : [bytes];
  return randomSplit(random, bytes, roll < 0.5 ? 3 : 12);
}

/**
 * Random pieces of `bytes`: between one and many, some views of `bytes`,
 * some copies (so that a split item also meets pieces in other buffers).
 *
 * @param random The case's random source.
 * @param bytes The whole.
 * @returns The pieces, in order.
 */
export function randomPieces(random: Random, bytes: Uint8Array): Uint8Array[] {
  const most = random.pick([1, 2, 8, 64, 4096]);
  const copies = random.pick([0, 0.5, 1]);
  return randomSplit(random, bytes, most).map((piece) =>
    random.next() < copies ? piece.slice() : piece
  );
}

/**
 * Whether two byte arrays hold the same bytes.
 *
 * @param a One.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Naming a failing case
// ---------------------------------------------------------------------------

/**
 * How a failure names its case: the seed to run with and the case index.
 *
 * @param seed The run's seed ({@linkcode fuzzSeed}).
 * @param index The case.
 * @returns `BERTH_FUZZ_SEED=…, case …`.
 */
export function caseName(seed: number, index: number): string {
  return `BERTH_FUZZ_SEED=${seed}, case ${index}`;
}

/**
 * Names a case of a test that draws all its cases from one random source,
 * with its input in hex, cut to its first 96 bytes.
 *
 * @param seed The run's seed.
 * @param index The case.
 * @param input The bytes of the case.
 * @returns The description.
 */
export function hexCase(seed: number, index: number, input: Uint8Array): string {
  const more = input.length > 96 ? `… (${input.length} bytes)` : "";
  return `${caseName(seed, index)}, input ${input.subarray(0, 96).toHex()}${more}`;
}

/** Bytes {@linkcode escaped} shows by a name of their own. */
const NAMED: Readonly<Record<number, string>> = {
  0x09: "\\t",
  0x0a: "\\n",
  0x0d: "\\r",
  0x22: '\\"',
  0x5c: "\\\\",
};

/** How {@linkcode escaped} shows each byte value. */
const BYTE_TEXT: readonly string[] = Array.from(
  { length: 256 },
  (_, byte) =>
    NAMED[byte] ??
      (byte >= 0x20 && byte < 0x7f
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`),
);

/** `bytes` quoted: printable ASCII as it is, the rest escaped, runs of NULs shortened. */
function quoted(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at++) {
    if (bytes[at] === 0) {
      let end = at + 1;
      while (end < bytes.length && bytes[end] === 0) end++;
      if (end - at >= 8) {
        text += `\\x00×${end - at}`;
        at = end - 1;
        continue;
      }
    }
    text += BYTE_TEXT[bytes[at]!];
  }
  return `"${text}"`;
}

/**
 * Bytes for a failure message: printable ASCII as it is, other bytes
 * escaped, a long input cut in the middle.
 *
 * @param bytes The input (`undefined`: the case noted none).
 * @param max Most bytes to show.
 * @returns A quoted string (with the length when cut).
 */
export function escaped(bytes: Uint8Array | undefined, max = 600): string {
  if (bytes === undefined) return "(not recorded)";
  if (bytes.length <= max) return quoted(bytes);
  const half = Math.floor(max / 2);
  return `${quoted(bytes.subarray(0, half))} … ${
    quoted(bytes.subarray(bytes.length - half))
  } (${bytes.length} bytes)`;
}

/**
 * Where `pieces` cut their whole, for messages.
 *
 * @param pieces Consecutive pieces.
 * @returns The offsets, comma-separated (at most 40).
 */
export function cutsOf(pieces: Uint8Array[]): string {
  const cuts: number[] = [];
  let offset = 0;
  for (const piece of pieces.slice(0, -1)) cuts.push(offset += piece.length);
  return cuts.length > 40 ? `${cuts.slice(0, 40).join(",")},… (${cuts.length})` : cuts.join(",");
}

/**
 * An error for a message or a comparison: its class, code and text.
 *
 * @param error What was thrown, or `undefined`.
 * @returns `none`, `Name CODE: message`, `Name: message` or `non-error …`.
 */
export function describeError(error: unknown): string {
  if (error === undefined) return "none";
  if (error instanceof DockerProtocolError) return `${error.name} ${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-error ${typeof error} ${String(error)}`;
}

/**
 * Fails unless `error` is absent or a `DockerError`.
 *
 * @param error What was thrown, or `undefined`.
 * @param what What threw it, for the message.
 */
export function assertTyped(error: unknown, what: string): void {
  if (error === undefined) return;
  assert.ok(
    error instanceof DockerError,
    `${what} threw ${error instanceof Error ? error.name : typeof error}, not a DockerError: ${
      error instanceof Error ? error.stack : error
    }`,
  );
}

// ---------------------------------------------------------------------------
// Case runners
// ---------------------------------------------------------------------------

/**
 * The seed of case `index`: each case can be replayed without the ones
 * before it.
 *
 * @param seed The run's seed.
 * @param index The case.
 * @returns The case's seed.
 */
export function caseSeed(seed: number, index: number): number {
  return (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

/** Records the input of the current case, for the failure message. */
export type Note = (input: Uint8Array) => void;

/**
 * Runs `count` cases, each with its own random source (seeded by
 * {@linkcode caseSeed}); a failure is rethrown naming the seed, the case
 * and the input it noted.
 *
 * @param count How many cases.
 * @param run One case.
 * @param input What the noted input is, for the message.
 */
export async function fuzz(
  count: number,
  run: (random: Random, note: Note, index: number) => void | Promise<void>,
  input = "input",
): Promise<void> {
  const seed = fuzzSeed();
  for (let index = 0; index < count; index++) {
    let noted: Uint8Array | undefined;
    try {
      await run(new Random(caseSeed(seed, index)), (bytes) => {
        noted = bytes;
      }, index);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Fuzz case failed (${caseName(seed, index)}): ${why}\n  ${input}: ${escaped(noted)}`,
        { cause: error },
      );
    }
  }
}

/**
 * The random source of a test that draws all its cases from one source in
 * turn (so a case replays after the ones before it): the run's seed xor the
 * test's salt. Name its cases with {@linkcode hexCase} and the seed.
 *
 * @param salt A number of the test's own (0 for none).
 * @returns The run's seed and the source.
 */
export function fuzzSource(salt = 0): { seed: number; random: Random } {
  const seed = fuzzSeed();
  return { seed, random: new Random(seed ^ salt) };
}

/** One fuzz case: its own random source and the words that reproduce it. */
export interface FuzzCase {
  random: Random;
  /** `BERTH_FUZZ_SEED=…, case 12 of "name"`. */
  label: string;
}

/**
 * The random source of case `index` of a test that labels its own
 * messages: seeded from the run's seed, the test's salt and the index, so
 * one case reproduces without the others.
 *
 * @param salt A number of the test's own.
 * @param index The case.
 * @param name The test, for the label.
 * @returns The case.
 */
export function fuzzCase(salt: number, index: number, name: string): FuzzCase {
  const seed = fuzzSeed();
  return {
    random: new Random((seed ^ Math.imul(salt, 0x9e3779b1)) + Math.imul(index, 0x85ebca6b)),
    label: `${caseName(seed, index)} of "${name}"`,
  };
}
