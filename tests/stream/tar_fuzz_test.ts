/**
 * Seeded fuzz tests of `readTar`. Random archives from `tarStream` and
 * hand-made ustar, GNU, V7 and PAX archives, split at random offsets, must
 * read exactly as written, whatever the consumer does with each body;
 * damaged ones must fail with a `DockerError` subclass, the same whatever
 * the split.
 *
 * A failure names the seed, the case and its input: rerun with
 * `BERTH_FUZZ_SEED=<seed>` to reproduce it, `BERTH_FUZZ_CASES=<n>` for n
 * times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerError } from "../../src/errors.ts";
import { readTar, type TarEntry, tarStream } from "../../src/stream/tar.ts";
import {
  assertTyped,
  describeError,
  fuzz,
  fuzzCases,
  mutate,
  type Random,
  randomPieces,
  randomSplit,
  sameBytes,
  tiered,
} from "../_fuzz.ts";
import { collect, concat, END, padded, paxHeader, rawHeader } from "./_tar.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** An entry as the reader should report it (spelled out, not `TarReaderEntry`: a reference). */
interface ExpectedEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  typeflag: string;
  size: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  body: Uint8Array;
}

const NAME_SEGMENTS = ["a", "bin", "etc", "ünï", "日本語", "with space", ".hidden", "f.txt", "..."];

function tarName(random: Random): string {
  const segments: string[] = [];
  for (let n = 1 + random.int(random.next() < 0.1 ? 30 : 4); n > 0; n--) {
    segments.push(
      random.next() < 0.1 ? "s".repeat(1 + random.int(150)) : random.pick(NAME_SEGMENTS),
    );
  }
  return segments.join("/");
}

function tarBody(random: Random): Uint8Array {
  return random.bytes(tiered(random, [
    [0.2, () => 0],
    [0.8, () => random.int(1500)],
    [0.97, () => 512 * random.int(8)],
    [1, () => 70_000],
  ]));
}

/** A random entry for `tarStream`, with what `readTar` must report for it. */
function writerEntry(random: Random): { entry: TarEntry; expected: ExpectedEntry } {
  const type = random.pick(["file", "file", "file", "directory", "symlink", "hardlink"] as const);
  let name = tarName(random);
  const body = type === "file" ? tarBody(random) : EMPTY;
  const mode = random.next() < 0.5 ? 0o644 : random.int(0o10000000);
  const uid = random.pick([0, 1000, 0o7777777, 0o10000000, 2 ** 40, Number.MAX_SAFE_INTEGER]);
  const gid = random.pick([0, 50, 0o10000000]);
  let mtime: number | Date = random.pick([0, 1_700_000_000, -1, -(2 ** 40), 8 ** 11, 2 ** 45]);
  let expectedMtime: number = mtime;
  if (random.next() < 0.2) {
    const ms = random.int(4e12);
    mtime = new Date(ms);
    expectedMtime = Math.floor(ms / 1000);
  }
  const uname = random.pick(["", "root", "u".repeat(32), "u".repeat(33), "ünï"]);
  const linkname = type === "symlink" || type === "hardlink" ? tarName(random) : "";
  const entry: TarEntry = { name, type, mode, uid, gid, mtime, uname, gname: "g" };
  if (linkname) entry.linkname = linkname;
  if (type === "file") {
    const shape = random.int(3);
    if (shape === 0) {
      entry.body = body;
    } else if (shape === 1) {
      entry.body = ReadableStream.from(randomSplit(random, body, 6).map((part) => part.slice()));
      entry.size = body.length;
    } else {
      // A string body: its UTF-8 bytes are the expected data.
      entry.body = new TextDecoder().decode(body.map((byte) => byte & 0x7f));
    }
  }
  if (type === "directory" && !name.endsWith("/")) name += "/";
  const data = typeof entry.body === "string" ? encoder.encode(entry.body) : body;
  return {
    entry,
    expected: {
      name,
      type,
      typeflag: { file: "0", directory: "5", symlink: "2", hardlink: "1" }[type],
      size: data.length,
      mode,
      mtime: expectedMtime,
      uid,
      gid,
      uname,
      gname: "g",
      linkname,
      devmajor: 0,
      devminor: 0,
      body: data,
    },
  };
}

/** `text` cut (at a character boundary) to at most `bytes` bytes of UTF-8. */
function fit(text: string, bytes: number): string {
  let out = text;
  while (encoder.encode(out).length > bytes) out = out.slice(0, -1);
  return out;
}

/** Rewrites the checksum of a header block (signed, as old writers did, when asked). */
function setChecksum(block: Uint8Array, signed = false): void {
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    const byte = block[i]!;
    sum += signed && byte >= 0x80 ? byte - 256 : byte;
  }
  block.set(encoder.encode(sum.toString(8).padStart(6, "0")), 148);
  block[154] = 0;
  block[155] = 0x20;
}

/** Writes a GNU base-256 number into a header field. */
function setBase256(block: Uint8Array, offset: number, length: number, value: number): void {
  let big = BigInt(value);
  if (big < 0n) big += 1n << BigInt(8 * length);
  for (let i = length - 1; i >= 0; i--) {
    block[offset + i] = Number(big & 0xffn);
    big >>= 8n;
  }
  block[offset] = value < 0 ? 0xff : 0x80;
}

/** A null-terminated block-padded GNU long-name (`L`) or long-link (`K`) header and data. */
function gnuLong(typeflag: "L" | "K", text: string): Uint8Array {
  const data = encoder.encode(`${text}\0`);
  return concat([
    rawHeader({ name: "././@LongLink", typeflag, size: data.length, magic: "ustar  \0" }),
    padded(data),
  ]);
}

/**
 * A random hand-made archive the writer would not make (ustar prefixes, GNU
 * long names and base-256 numbers, V7 headers, PAX global headers, signed
 * checksums, devices), with what `readTar` must report.
 */
function handArchive(random: Random): { bytes: Uint8Array; expected: ExpectedEntry[] } {
  const parts: Uint8Array[] = [];
  const expected: ExpectedEntry[] = [];
  let globalUname: string | undefined;
  for (let n = random.int(7); n > 0; n--) {
    const kind = random.int(9);
    const typeflag = random.pick(["0", "0", "5", "2", "1", "3", "6", "7", "\0", "S"]);
    const headerOnly = "123456".includes(typeflag);
    let body = headerOnly ? EMPTY : tarBody(random);
    let name = fit(tarName(random), 90);
    if (typeflag === "\0" && random.next() < 0.3) {
      name += "/";
      body = EMPTY;
    }
    let linkname = typeflag === "1" || typeflag === "2" ? fit(tarName(random), 90) : "";
    let uname = "user";
    let mtime = random.int(2 ** 33);
    let uid = random.int(0o7777777);
    let header: Uint8Array;
    let magic = "ustar\x0000";
    if (kind === 1) magic = "ustar  \0";
    if (kind === 2) magic = "";
    const fields = { name, typeflag, size: body.length, mtime, uid, linkname, uname, magic };
    if (kind === 3) {
      // ustar prefix: the name is prefix/name.
      const prefix = fit(tarName(random), 150);
      header = rawHeader({ ...fields, prefix });
      name = `${prefix}/${name}`;
    } else if (kind === 4) {
      // GNU long name and link.
      const long = `${"long/".repeat(30)}${name}`;
      parts.push(gnuLong("L", long));
      if (linkname) {
        linkname = `${"target/".repeat(20)}${linkname}`;
        parts.push(gnuLong("K", linkname));
      }
      header = rawHeader({ ...fields, magic: "ustar  \0" });
      name = long;
    } else if (kind === 5) {
      // PAX local records.
      const records: Record<string, string> = {
        path: `${name}/ünï/${"p".repeat(120)}`,
        mtime: "1700000000.5",
        uid: String(2 ** 40),
      };
      if (linkname) records.linkpath = `${linkname}/${"q".repeat(120)}`;
      if (random.next() < 0.5) records.uname = "pax-user";
      parts.push(paxHeader("x", records));
      header = rawHeader(fields);
      name = records.path!;
      linkname = records.linkpath ?? linkname;
      mtime = 1_700_000_000.5;
      uid = 2 ** 40;
      if (records.uname) uname = records.uname;
      else if (globalUname) uname = globalUname;
    } else if (kind === 6) {
      // PAX global records: set or unset uname for the entries that follow.
      globalUname = random.next() < 0.7 ? `global-${random.int(100)}` : undefined;
      parts.push(paxHeader("g", { uname: globalUname ?? "" }));
      header = rawHeader(fields);
      if (globalUname) uname = globalUname;
    } else if (kind === 7) {
      // GNU base-256 numbers.
      header = rawHeader(fields);
      mtime = -random.int(2 ** 40);
      uid = 2 ** 30 + random.int(2 ** 30);
      setBase256(header, 136, 12, mtime);
      setBase256(header, 108, 8, uid);
      if (!headerOnly) setBase256(header, 124, 12, body.length);
      setChecksum(header);
    } else {
      header = rawHeader({ ...fields, uname: kind === 8 ? "ü" : uname });
      if (kind === 8) {
        setChecksum(header, true); // old signed checksum
        uname = "ü";
      }
    }
    if (kind !== 5 && kind !== 6 && globalUname !== undefined) uname = globalUname;
    parts.push(header, padded(body));
    const type = typeflag === "0" || typeflag === "7"
      ? "file"
      : typeflag === "\0"
      ? (name.endsWith("/") ? "directory" : "file")
      : typeflag === "5"
      ? "directory"
      : typeflag === "2"
      ? "symlink"
      : typeflag === "1"
      ? "hardlink"
      : "other";
    expected.push({
      name,
      type,
      typeflag,
      size: body.length,
      mode: 0o644,
      mtime,
      uid,
      gid: 0,
      uname,
      gname: "",
      linkname,
      devmajor: 0,
      devminor: 0,
      body,
    });
  }
  const end = random.int(4);
  if (end === 1) parts.push(END);
  else if (end === 2) parts.push(END, new Uint8Array(512 * random.int(20)));
  else if (end === 3) parts.push(new Uint8Array(512));
  return { bytes: concat(parts), expected };
}

/** How the consumer treats an entry's body. */
type BodyPlan = "read" | "skip" | "some" | "race";

/** What reading an archive gave: entries, bodies (or their errors), the final error. */
interface TarRun {
  entries: (Omit<ExpectedEntry, "body"> & { body: Uint8Array | string | null })[];
  error: unknown;
}

/**
 * Reads an archive, treating the body of entry `i` as `plans[i % length]`
 * says, and checks that every body chunk is a view of an input piece.
 */
async function readArchive(
  parts: Uint8Array[],
  plans: BodyPlan[],
  options: { maxEntries?: number; maxHeaderSize?: number } = {},
): Promise<TarRun> {
  const buffers = new Set(parts.map((part) => part.buffer));
  const entries: TarRun["entries"] = [];
  const reader = readTar(ReadableStream.from(parts), options).getReader();
  let race: Promise<unknown> | null = null;
  try {
    while (true) {
      const next = reader.read();
      if (race) {
        // The body read in flight as the next entry was asked for: it gets
        // a chunk or the "skipped" error, never anything else.
        await race.catch((error) => assertTyped(error, "a raced body read"));
        race = null;
      }
      const { done, value } = await next;
      if (done) break;
      const { body, ...fields } = value;
      const plan = plans[entries.length % plans.length]!;
      const item: TarRun["entries"][number] = { ...fields, body: null };
      entries.push(item);
      if (plan === "read") {
        const chunks: Uint8Array[] = [];
        try {
          for await (const chunk of body) chunks.push(chunk);
          item.body = concat(chunks);
        } catch (error) {
          assertTyped(error, "a tar body");
          item.body = describeError(error);
        }
        for (const chunk of chunks) {
          assert.ok(buffers.has(chunk.buffer), "a body chunk is a copy, not a view of the input");
        }
      } else if (plan === "some") {
        await body.getReader().read().catch((error) => assertTyped(error, "a tar body"));
      } else if (plan === "race") {
        race = body.getReader().read();
      }
    }
  } catch (error) {
    await race?.catch(() => {});
    if (error instanceof assert.AssertionError) throw error; // a check above, not readTar
    assertTyped(error, "readTar");
    return { entries, error };
  }
  return { entries, error: undefined };
}

/**
 * How the consumer treats the bodies of a read: five plans, taken in turn.
 *
 * @param random The case's random source.
 * @returns The plans.
 */
function randomPlans(random: Random): BodyPlan[] {
  return Array.from(
    { length: 5 },
    () => random.pick<BodyPlan>(["read", "read", "skip", "some", "race"]),
  );
}

/**
 * Asserts that an archive read without error gave the entries `expected`,
 * with their bodies where the plan read them.
 *
 * @param run What reading gave.
 * @param expected The entries written.
 * @param plans The plans the read followed.
 */
function checkEntries(run: TarRun, expected: ExpectedEntry[], plans: BodyPlan[]): void {
  assert.equal(run.error, undefined, describeError(run.error));
  assert.equal(run.entries.length, expected.length, "entry count");
  run.entries.forEach((entry, index) => {
    const { body, ...want } = expected[index]!;
    const { body: got, ...fields } = entry;
    assert.deepEqual(fields, want, `entry ${index}`);
    if (plans[index % plans.length] === "read") {
      assert.ok(got instanceof Uint8Array && sameBytes(got, body), `entry ${index} body: ${got}`);
    }
  });
}

Deno.test("readTar reads random archives from tarStream split anywhere exactly as written", async () => {
  await fuzz(fuzzCases(120), async (random, note) => {
    const specs = Array.from({ length: random.int(8) }, () => writerEntry(random));
    const bytes = await collect(tarStream(specs.map((spec) => spec.entry)));
    note(bytes);
    assert.equal(bytes.length % 512, 0, "whole blocks");
    const plans = randomPlans(random);
    const run = await readArchive(randomPieces(random, bytes), plans);
    checkEntries(run, specs.map((spec) => spec.expected), plans);
  });
});

Deno.test("readTar reads random hand-made ustar, GNU, V7 and PAX archives split anywhere exactly", async () => {
  await fuzz(fuzzCases(200), async (random, note) => {
    const { bytes, expected } = handArchive(random);
    note(bytes);
    const plans = randomPlans(random);
    const run = await readArchive(randomPieces(random, bytes), plans);
    checkEntries(run, expected, plans);
  });
});

/** Bytes tar headers are made of, for {@linkcode mutate}. */
const TAR_BYTES = [0, 0x20, 0x30, 0x31, 0x37, 0x38, 0x80, 0xff, 0x78, 0x67, 0x4c, 0x4b, 0x35, 0x0a];

/** A damaged archive: mutated, with an overflowing or huge size, truncated, or random bytes. */
async function damagedArchive(random: Random): Promise<Uint8Array> {
  const valid = random.next() < 0.5 ? handArchive(random).bytes : await collect(
    tarStream(Array.from({ length: random.int(5) }, () => writerEntry(random).entry)),
  );
  const roll = random.int(6);
  if (roll === 0) return random.bytes(512 * random.int(4) + random.int(600));
  if (roll === 1) return valid.subarray(0, random.int(valid.length + 1));
  if (roll === 2 || roll === 3) {
    // A header declaring a size its data does not have: 11 octal 7s (8 GiB), a
    // size over 12 octal digits, a base-256 size up to 2^95, a PAX size.
    const header = rawHeader({ name: "big", typeflag: random.pick(["0", "x", "L", "g", "S"]) });
    const field = random.int(4);
    if (field === 0) header.set(encoder.encode("77777777777\0"), 124);
    else if (field === 1) header.set(encoder.encode("777777777777"), 124);
    else if (field === 2) {
      for (let i = 125; i < 136; i++) header[i] = random.int(256);
      header[124] = 0x80;
    } else {
      return concat([
        paxHeader("x", { size: random.pick(["99999999999999999999", "1e3", "-1", "12"]) }),
        header,
      ]);
    }
    setChecksum(header);
    const cut = random.int(valid.length + 1);
    return concat([valid.subarray(0, cut - (cut % 512)), header, random.bytes(random.int(2000))]);
  }
  return mutate(random, valid, TAR_BYTES);
}

Deno.test("readTar fails damaged archives with DockerError subclasses only, the same whatever the split", async () => {
  await fuzz(fuzzCases(200), async (random, note) => {
    const bytes = await damagedArchive(random);
    note(bytes);
    const plans = Array.from({ length: 5 }, () => random.pick<BodyPlan>(["read", "read", "skip"]));
    const options = random.next() < 0.2
      ? { maxEntries: 1 + random.int(3), maxHeaderSize: 1 + random.int(2000) }
      : {};
    const first = await readArchive(randomPieces(random, bytes), plans, options);
    const second = await readArchive(randomPieces(random, bytes), plans, options);
    assert.equal(
      describeError(second.error),
      describeError(first.error),
      "the same error for another split",
    );
    assert.deepEqual(second.entries, first.entries, "the same entries for another split");
  });
});

Deno.test("readTar keeps its place when a body read is in flight as the next entry is asked for", async () => {
  const bytes = await collect(tarStream([
    { name: "a", body: new Uint8Array(1000).fill(97), mtime: 0 },
    { name: "b", body: "bee", mtime: 0 },
  ]));
  // Pieces of 700 bytes: the body of "a" spans two of them.
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 700) parts.push(bytes.slice(i, i + 700));
  const entries = readTar(ReadableStream.from(parts)).getReader();
  const first = await entries.read();
  // A chunk, or the "skipped" error: both are fine.
  const pending = first.value!.body.getReader().read().catch((error) => error);
  const second = await entries.read();
  const raced = await pending;
  assert.ok(raced instanceof DockerError || raced.value instanceof Uint8Array, String(raced));
  assert.equal(second.value?.name, "b");
  assert.equal(await new Response(second.value!.body).text(), "bee");
  assert.equal((await entries.read()).done, true);
});
