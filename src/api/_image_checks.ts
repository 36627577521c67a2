/**
 * Argument checks shared by the image calls, run before any I/O.
 *
 * @module
 */

import { missingArgument } from "./_client.ts";
import type { ImageArchive } from "./_image_types.ts";

/** Throws a TypeError for an empty or non-string value, before any I/O. */
export function required(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value.trim() === "") throw missingArgument(what, value);
}

/** Checks an optional list of strings. */
export function stringList(value: unknown, what: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new TypeError(`${what} must be an array of strings`);
  }
}

/** Checks a tar body. */
export function archive(value: unknown, what: string): asserts value is ImageArchive {
  if (!(value instanceof ReadableStream) && !(value instanceof Uint8Array)) {
    throw new TypeError(`${what} must be a ReadableStream<Uint8Array> or a Uint8Array`);
  }
}
