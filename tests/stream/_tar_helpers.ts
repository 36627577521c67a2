/**
 * Helpers for the tests of `tarStream` and `readTar` (`tar_write_test.ts`,
 * `tar_read_test.ts`): writing an archive and reading it back whole,
 * asserting a `DockerProtocolError`, and running GNU tar. The raw header
 * blocks and byte helpers are in `_tar.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { readTar, type TarEntry, type TarReaderEntry, tarStream } from "../../src/stream/tar.ts";
import { collect } from "./_tar.ts";

const decoder = new TextDecoder();

/** An entry read by {@linkcode readAll}: its fields, and its body's bytes as `data`. */
export interface ReadEntry extends Omit<TarReaderEntry, "body"> {
  data: Uint8Array;
}

/** Reads an archive to its end, every entry with its body's bytes. */
export async function readAll(
  stream: ReadableStream<Uint8Array>,
  options = {},
): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readTar(stream, options)) {
    const { body, ...rest } = entry;
    out.push({ ...rest, data: await collect(body) });
  }
  return out;
}

/** The bytes of the archive {@linkcode tarStream} writes for `entries`. */
export async function archive(entries: TarEntry[]): Promise<Uint8Array> {
  return await collect(tarStream(entries));
}

/** Asserts that `promise` rejects with a `DockerProtocolError` of `code` (and a message matching `pattern`). */
export async function assertProtocolError(
  promise: Promise<unknown>,
  code: string,
  pattern?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

/** Runs GNU tar; fails on an error exit or any warning. */
export async function run(args: string[]): Promise<string> {
  const output = await new Deno.Command("tar", { args }).output();
  const stderr = decoder.decode(output.stderr);
  if (!output.success || stderr !== "") throw new Error(`tar ${args.join(" ")} failed: ${stderr}`);
  return decoder.decode(output.stdout);
}

/** An mtime (seconds) for entries. */
export const MTIME = 1_700_000_000;
