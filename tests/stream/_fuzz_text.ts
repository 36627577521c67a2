/**
 * Random text for the stream fuzz tests: JSON line values and WebSocket
 * text messages, with multi-byte characters, escapes and JSON syntax.
 *
 * @module
 */

import type { Random } from "../_fuzz.ts";

/** Pieces of strings: multi-byte characters (2, 3, 4 bytes), escapes, JSON syntax. */
export const STRING_PIECES = [
  "a",
  "status",
  "Downloading",
  "é",
  "✓",
  "日本",
  "🐳",
  "\u2028",
  '"',
  "\\",
  "\n",
  "\r",
  "\t",
  "\u0000",
  " ",
  "{",
  "}",
  "[",
  ",",
  ":",
  "error",
];

/**
 * Random text of up to five pieces of {@linkcode STRING_PIECES}.
 *
 * @param random The case's random source.
 * @returns The text (maybe empty).
 */
export function randomString(random: Random): string {
  let text = "";
  for (let n = random.int(6); n > 0; n--) text += random.pick(STRING_PIECES);
  return text;
}
