/**
 * Seeded fuzz tests of the HTTP/1.1 response side: the head parser, body
 * framing, the chunked decoder, and whole exchanges through `HttpClient`
 * over an in-memory connection.
 *
 * Valid responses are generated with what they mean (status, fields, body)
 * and must be read back exactly, however the bytes are split. Damaged
 * responses are compared with a small reference parser written from RFC 9112
 * and berth's documented limits: where the reference accepts, berth must
 * return the same status, fields and body; where it rejects, berth must
 * throw a `DockerError`. A failure names the seed (`BERTH_FUZZ_SEED`), the
 * case and the input, so it reproduces; `BERTH_FUZZ_CASES` runs more cases.
 *
 * One file, past the usual size: the reference, the generators and the
 * in-memory connection serve only these tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  DockerConnectionError,
  DockerError,
  DockerProtocolError,
  type DockerProtocolErrorCode,
} from "../../src/errors.ts";
import { ChunkedDecoder } from "../../src/http/chunked.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { HttpResponse } from "../../src/http/response.ts";
import {
  type BodyFraming,
  bodyFraming,
  type HeadLimits,
  parseHead,
} from "../../src/http/response_head.ts";
import { concat, withDeadline } from "../_fake_engine.ts";
import { DELIMITERS, fuzzCases, fuzzSeed, mutate, Random, randomSplit } from "../_fuzz.ts";

const SEED = fuzzSeed();
const DEFAULT_LIMITS: HeadLimits = { maxHeaderSize: 65_536, maxHeaderCount: 256 };
/** Limits of `ChunkedDecoder` by default (its options left out). */
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16_384;
/** Milliseconds one exchange case may take before it counts as a hang. */
const CASE_DEADLINE = 2000;

// ---------------------------------------------------------------------------
// Cases, bytes and messages
// ---------------------------------------------------------------------------

/** One fuzz case: its own random source and the words that reproduce it. */
interface FuzzCase {
  random: Random;
  /** `seed 0x… case 12 of "name"`. */
  label: string;
}

/**
 * The random source of case `index` of a test: seeded from the run's seed,
 * the test's salt and the index, so one case reproduces without the others.
 *
 * @param salt A number of the test's own.
 * @param index The case.
 * @param name The test, for the label.
 * @returns The case.
 */
function fuzzCase(salt: number, index: number, name: string): FuzzCase {
  const seed = (SEED ^ Math.imul(salt, 0x9e3779b1)) + Math.imul(index, 0x85ebca6b);
  return {
    random: new Random(seed),
    label: `seed 0x${SEED.toString(16)} case ${index} of "${name}" (BERTH_FUZZ_SEED=${SEED})`,
  };
}

/**
 * Bytes as ISO-8859-1 text (one character per byte), as the parsers read heads.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.length; at += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(at, at + 4096) as unknown as number[]);
  }
  return out;
}

/**
 * ISO-8859-1 text as bytes (each character below 256).
 *
 * @param text The text.
 * @returns The bytes.
 */
function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Bytes escaped for a message, long inputs cut in the middle.
 *
 * @param bytes The input.
 * @param max Most characters of text to show.
 * @returns A JSON string literal (with a length note when cut).
 */
function show(bytes: Uint8Array, max = 600): string {
  if (bytes.length <= max) return JSON.stringify(latin1(bytes));
  const half = max / 2;
  return `${JSON.stringify(latin1(bytes.subarray(0, half)))} … ${
    JSON.stringify(latin1(bytes.subarray(bytes.length - half)))
  } (${bytes.length} bytes)`;
}

/**
 * Where `pieces` cut their whole, for messages.
 *
 * @param pieces Consecutive pieces.
 * @returns The offsets, comma-separated (at most 40).
 */
function cutsOf(pieces: Uint8Array[]): string {
  const cuts: number[] = [];
  let offset = 0;
  for (const piece of pieces.slice(0, -1)) cuts.push(offset += piece.length);
  return cuts.length > 40 ? `${cuts.slice(0, 40).join(",")},… (${cuts.length})` : cuts.join(",");
}

/**
 * Cuts `bytes` for serving or decoding: usually a few random cuts, now and
 * then one byte per piece, or none.
 *
 * @param random The case's random source.
 * @param bytes The whole.
 * @returns The pieces (none for no bytes).
 */
function cutUp(random: Random, bytes: Uint8Array): Uint8Array[] {
  const roll = random.next();
  if (roll < 0.05 && bytes.length <= 400) {
    return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
  }
  if (roll < 0.15) return bytes.length === 0 ? [] : [bytes];
  return randomSplit(random, bytes, roll < 0.5 ? 3 : 12);
}

/** Whether two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Fields as `toObject` gives them: lower-case names, repeats joined with `, `.
 *
 * @param fields Name and value of each field, in order.
 * @returns The object.
 */
function joinFields(fields: readonly (readonly [string, string])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    out[lower] = lower in out ? `${out[lower]}, ${value}` : value;
  }
  return out;
}

/** An error for a message: its class, code and text. */
function describeError(error: unknown): string {
  if (error instanceof DockerProtocolError) {
    return `${error.name} ${error.code}: ${error.message}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-error ${String(error)}`;
}

// ---------------------------------------------------------------------------
// The reference: RFC 9112 with berth's limits, written for clarity, not speed
// ---------------------------------------------------------------------------

/** A head as the reference reads it. */
interface RefHead {
  status: number;
  reason: string;
  fields: [string, string][];
  /** Offset just past the head's empty line. */
  end: number;
}

type RefHeadResult = RefHead | { error: string } | { incomplete: true };

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9][0-9])(?: ([^]*))?$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^]*)$/;
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;

/**
 * Reads the head starting at `start` of `text`. Lenient where berth is
 * (control bytes other than NUL, CR and LF in values), strict elsewhere: a
 * CR or LF outside a CRLF, NUL, a field name that is not a token or has
 * whitespace before the colon, an obs-fold line.
 *
 * @param text The bytes as ISO-8859-1.
 * @param start Where the head starts.
 * @param limits Size (of the head, empty line included) and field count.
 * @returns The head, an error, or `incomplete` when no empty line came.
 */
function referenceHead(text: string, start: number, limits: HeadLimits): RefHeadResult {
  const blank = text.indexOf("\r\n\r\n", start);
  if (blank === -1) {
    return text.length - start > limits.maxHeaderSize
      ? { error: "head over maxHeaderSize" }
      : { incomplete: true };
  }
  const end = blank + 4;
  if (end - start > limits.maxHeaderSize) return { error: "head over maxHeaderSize" };
  const lines = text.slice(start, blank + 2).split("\r\n").slice(0, -1);
  if (lines.some((line) => /[\0\r\n]/.test(line))) return { error: "NUL, bare CR or bare LF" };
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return { error: "bad status line" };
  const fields: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const field = FIELD_LINE.exec(line);
    if (!field) return { error: "bad field line" };
    fields.push([field[1]!, field[2]!.replace(OWS_EDGES, "")]);
  }
  if (fields.length > limits.maxHeaderCount) return { error: "too many fields" };
  return { status: Number(status[1]), reason: status[2] ?? "", fields, end };
}

type RefFraming = BodyFraming | { kind: "error"; why: string };

/**
 * RFC 9112 §6.3 as berth applies it: no body for HEAD, 1xx, 204 and 304;
 * Transfer-Encoding must be exactly `chunked` and never with
 * Content-Length; Content-Length values (a list of equal ones allowed) are
 * 1 to 16 digits and a safe integer.
 *
 * @param head The head.
 * @param method The request method.
 * @returns The framing, or why it is rejected.
 */
function referenceFraming(head: RefHead, method: string): RefFraming {
  const { status, fields } = head;
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { kind: "none" };
  }
  const joined = joinFields(fields);
  const transferEncoding = joined["transfer-encoding"];
  const contentLength = joined["content-length"];
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) return { kind: "error", why: "both TE and CL" };
    const codings = transferEncoding.split(",").map((c) => c.replace(OWS_EDGES, "").toLowerCase());
    return codings.length === 1 && codings[0] === "chunked"
      ? { kind: "chunked" }
      : { kind: "error", why: "TE not chunked" };
  }
  if (contentLength !== undefined) {
    const values = contentLength.split(",").map((v) => v.replace(OWS_EDGES, ""));
    const first = values[0]!;
    if (!/^[0-9]{1,16}$/.test(first) || values.some((v) => v !== first)) {
      return { kind: "error", why: "bad CL" };
    }
    const length = Number(first);
    if (!Number.isSafeInteger(length)) return { kind: "error", why: "CL too large" };
    return { kind: "length", length };
  }
  return { kind: "close" };
}

/** What the reference makes of a chunked body. */
type RefChunked =
  | { error: string }
  | { done: false; payload: string }
  | { done: true; payload: string; end: number };

const SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const SIZE_DIGITS = /^[0-9A-Fa-f]*$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Index of the first CR or LF in `text` from `from`, or -1. */
function lineBreak(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 13 || code === 10) return i;
  }
  return -1;
}

/**
 * Decodes a chunked body (RFC 9112 §7.1) with the decoder's limits: size
 * lines of hex digits, optional whitespace and `;` extensions (no control
 * bytes but HTAB) up to 4096 bytes, sizes up to 2^53 - 1, trailer lines
 * (anything but CR and LF) up to 16384 bytes in all.
 *
 * @param text The bytes as ISO-8859-1.
 * @param start Where the body starts.
 * @returns The payload and where the body ends; the payload so far when
 *   the bytes end first; or an error.
 */
function referenceChunked(text: string, start: number): RefChunked {
  let at = start;
  let payload = "";
  while (true) {
    const stop = lineBreak(text, at);
    const line = text.slice(at, stop === -1 ? text.length : stop);
    const digits = /^[0-9A-Fa-f]*/.exec(line)![0];
    if (BigInt(`0x0${digits}`) > MAX_SAFE) return { error: "chunk size over 2^53 - 1" };
    if (line.length > MAX_CHUNK_LINE) return { error: "size line too long" };
    if (stop === -1) {
      return SIZE_LINE.test(line) || SIZE_DIGITS.test(line)
        ? { done: false, payload }
        : { error: "bad size line" };
    }
    if (!SIZE_LINE.test(line)) return { error: "bad size line" };
    if (text[stop] === "\n") return { error: "bare LF after size" };
    if (stop + 1 === text.length) return { done: false, payload };
    if (text[stop + 1] !== "\n") return { error: "CR without LF after size" };
    const size = Number.parseInt(digits, 16);
    at = stop + 2;
    if (size === 0) break;
    if (text.length - at < size) return { done: false, payload: payload + text.slice(at) };
    payload += text.slice(at, at + size);
    at += size;
    if (at === text.length) return { done: false, payload };
    if (text[at] !== "\r") return { error: "no CRLF after data" };
    if (at + 1 === text.length) return { done: false, payload };
    if (text[at + 1] !== "\n") return { error: "no LF after data" };
    at += 2;
  }
  let trailers = 0;
  while (true) {
    if (at === text.length) return { done: false, payload };
    if (text[at] === "\r") {
      if (at + 1 === text.length) return { done: false, payload };
      return text[at + 1] === "\n"
        ? { done: true, payload, end: at + 2 }
        : { error: "no LF after final CR" };
    }
    if (text[at] === "\n") return { error: "bare LF ends the body" };
    const stop = lineBreak(text, at);
    const length = (stop === -1 ? text.length : stop) - at;
    if (stop === -1) {
      return trailers + length > MAX_TRAILERS ? { error: "trailers too large" } : {
        done: false,
        payload,
      };
    }
    if (trailers + length + 1 > MAX_TRAILERS) return { error: "trailers too large" };
    if (text[stop] === "\n") return { error: "bare LF in trailers" };
    if (stop + 1 === text.length) return { done: false, payload };
    if (text[stop + 1] !== "\n") return { error: "no LF after trailer CR" };
    trailers += length + 2;
    if (trailers > MAX_TRAILERS) return { error: "trailers too large" };
    at = stop + 2;
  }
}

/** The reference's verdict on a whole response stream. */
type Reference =
  | {
    ok: true;
    status: number;
    reason: string;
    fields: Record<string, string>;
    body: Uint8Array;
    /** Offset just past the response. */
    end: number;
    /** Whether the end of the stream decided it (a close-delimited body). */
    untilEof: boolean;
  }
  | { ok: false; why: string; untilEof: boolean };

/**
 * Reads one response (after any interim ones) from `wire`, followed by the
 * end of the stream, as a client that sent `method` without asking to
 * upgrade must.
 *
 * @param wire Everything the server sent.
 * @param method The request method.
 * @param limits Head limits.
 * @returns The response, or why there is none; `untilEof` says whether the
 *   verdict needed the end of the stream.
 */
function referenceExchange(wire: Uint8Array, method: string, limits: HeadLimits): Reference {
  const text = latin1(wire);
  let at = 0;
  while (true) {
    const head = referenceHead(text, at, limits);
    if ("incomplete" in head) return { ok: false, why: "closed inside a head", untilEof: true };
    if ("error" in head) return { ok: false, why: head.error, untilEof: false };
    at = head.end;
    if (head.status === 101) return { ok: false, why: "101 not asked for", untilEof: false };
    if (head.status < 200) continue;
    const framing = referenceFraming(head, method);
    const response = (body: string, end: number, untilEof: boolean): Reference => ({
      ok: true,
      status: head.status,
      reason: head.reason,
      fields: joinFields(head.fields),
      body: bytesOf(body),
      end,
      untilEof,
    });
    switch (framing.kind) {
      case "error":
        return { ok: false, why: framing.why, untilEof: false };
      case "none":
        return response("", at, false);
      case "close":
        return response(text.slice(at), text.length, true);
      case "length":
        return text.length - at < framing.length
          ? { ok: false, why: "closed inside the body", untilEof: true }
          : response(text.slice(at, at + framing.length), at + framing.length, false);
      case "chunked": {
        const body = referenceChunked(text, at);
        if ("error" in body) return { ok: false, why: body.error, untilEof: false };
        if (!body.done) return { ok: false, why: "closed inside a chunked body", untilEof: true };
        return response(body.payload, body.end, false);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Valid responses, generated with their meaning
// ---------------------------------------------------------------------------

const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const HEX_DIGITS = "0123456789abcdefABCDEF";
const COMMON_NAMES = [
  "Server",
  "Date",
  "Content-Type",
  "Api-Version",
  "Docker-Experimental",
  "Ostype",
  "Cache-Control",
  "X-Docker-Container-Path-Stat",
  "Vary",
  "Link",
];
const FRAMING_NAMES = new Set(["content-length", "transfer-encoding", "connection"]);

/** `text` with each letter's case flipped at random. */
function randomCase(random: Random, text: string): string {
  let out = "";
  for (const c of text) out += random.next() < 0.3 ? swapCase(c) : c;
  return out;
}

function swapCase(c: string): string {
  const lower = c.toLowerCase();
  return c === lower ? c.toUpperCase() : lower;
}

/** A token of 1 to `max` characters. */
function randomToken(random: Random, max: number): string {
  let out = "";
  for (let i = 1 + random.int(max); i > 0; i--) out += TOKEN[random.int(TOKEN.length)];
  return out;
}

/** `length` hex digits in either case. */
function randomHex(random: Random, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += HEX_DIGITS[random.int(HEX_DIGITS.length)];
  return out;
}

/** A field name that is no framing field. */
function randomName(random: Random): string {
  while (true) {
    const name = random.next() < 0.5
      ? randomCase(random, random.pick(COMMON_NAMES))
      : randomToken(random, 20);
    if (!FRAMING_NAMES.has(name.toLowerCase())) return name;
  }
}

/** Optional whitespace: mostly none or one space, sometimes tabs and runs. */
function randomOws(random: Random): string {
  const roll = random.next();
  if (roll < 0.4) return "";
  if (roll < 0.8) return " ";
  let out = "";
  for (let i = 1 + random.int(3); i > 0; i--) out += random.pick([" ", "\t"]);
  return out;
}

/**
 * A field value (RFC 9110 field-content): visible ASCII and obs-text, with
 * spaces and tabs inside only; sometimes empty.
 */
function randomValue(random: Random, max = 24): string {
  if (random.next() < 0.08) return "";
  const length = 1 + random.int(random.next() < 0.95 ? max : 300);
  let out = "";
  for (let i = 0; i < length; i++) {
    const roll = random.next();
    let code = roll < 0.78
      ? 0x21 + random.int(94)
      : roll < 0.88
      ? 0x80 + random.int(128)
      : random.pick([0x20, 0x09]);
    if ((i === 0 || i === length - 1) && (code === 0x20 || code === 0x09)) code = 0x61;
    out += String.fromCharCode(code);
  }
  return out;
}

/**
 * Random bytes as ISO-8859-1 text, sized small mostly, now and then large
 * (past the client's 16 and 64 KiB reads).
 *
 * @param random The case's random source.
 * @param max Most bytes.
 * @returns The body.
 */
function randomBody(random: Random, max = 42_000): string {
  const roll = random.next();
  const length = roll < 0.1
    ? 0
    : roll < 0.5
    ? 1 + random.int(64)
    : roll < 0.94
    ? 65 + random.int(2000)
    : 2000 + random.int(70_000);
  return latin1(fastBytes(random, Math.min(length, max)));
}

/**
 * `length` pseudo-random bytes from one draw of `random` (xorshift32): the
 * same per case, and cheap enough for bodies of tens of KiB.
 */
function fastBytes(random: Random, length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = (random.int(0xffff_ffff) | 1) >>> 0;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, length);
}

/** A generated response and what it means. */
interface Generated {
  /** Interim responses, the final head and the body, as sent. */
  wire: Uint8Array;
  method: "GET" | "HEAD";
  status: number;
  reason: string;
  /** The final head's fields: name as sent, value as it must read. */
  fields: [string, string][];
  body: Uint8Array;
  framing: BodyFraming["kind"];
  /** Whether the connection may carry another request afterwards. */
  keepAlive: boolean;
  /** Largest head (interim ones included), in bytes, and most fields in one. */
  largestHead: number;
  mostFields: number;
  /** Where the final head starts and ends in `wire`. */
  headAt: number;
  headEnd: number;
  /** Where the final head's field lines start in `wire`, and how many there are. */
  fieldsAt: number;
  fieldCount: number;
  /** Spans of the chunk-size digits in `wire` (chunked bodies). */
  chunkSizes: [number, number][];
  /** Span of the (first) Content-Length value in `wire`, if any. */
  contentLengthAt: [number, number] | undefined;
}

/** One field line to write: name, raw value (with OWS) and the value read back. */
interface FieldLine {
  name: string;
  raw: string;
  value: string;
}

/** A field with random whitespace around `value`. */
function fieldLine(random: Random, name: string, value: string): FieldLine {
  return { name, raw: `${randomOws(random)}${value}${randomOws(random)}`, value };
}

/** `items` in a random order. */
function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A status line: version, code and a reason that may be empty or missing. */
function statusLine(random: Random, version: string, status: number): [string, string] {
  const roll = random.next();
  if (roll < 0.1) return [`${version} ${status}`, ""];
  if (roll < 0.2) return [`${version} ${status} `, ""];
  const reason = roll < 0.7
    ? random.pick(["OK", "Not Found", "No Content", "Continue", "Internal Server Error"])
    : `${random.pick([" ", "\t", ""])}${randomValue(random, 40)}`;
  return [`${version} ${status} ${reason}`, reason];
}

/**
 * Encodes `body` as chunks of random sizes (hex in either case, leading
 * zeros, extensions, whitespace) with a random trailer section.
 *
 * @returns The encoding and the spans of its size digits (relative).
 */
function chunkedBody(random: Random, body: string): [string, [number, number][]] {
  let out = "";
  const sizes: [number, number][] = [];
  // One-byte chunks only for short bodies: they are per chunk, not per byte.
  const maxChunk = body.length > 4096
    ? random.pick([512, 8192, 70_000])
    : random.pick([1, 7, 64, 512, 8192]);
  const sizeLine = (size: number) => {
    let hex = randomCase(random, size.toString(16));
    if (random.next() < 0.1) hex = "0".repeat(1 + random.int(3)) + hex;
    sizes.push([out.length, out.length + hex.length]);
    let line = hex;
    const roll = random.next();
    if (roll < 0.05) line += random.pick([" ", "\t", " \t "]);
    else if (roll < 0.25) {
      for (let n = 1 + random.int(2); n > 0; n--) {
        line += `${random.pick(["", " ", "\t"])};${random.pick(["", " "])}${
          randomToken(random, 8)
        }`;
        if (random.next() < 0.6) {
          line += random.next() < 0.5
            ? `=${randomToken(random, 8)}`
            : `="${randomValue(random, 12).replace(/["\\]/g, "q")}"`;
        }
      }
    }
    out += `${line}\r\n`;
  };
  for (let offset = 0; offset < body.length;) {
    const size = 1 + random.int(Math.min(maxChunk, body.length - offset));
    sizeLine(size);
    out += `${body.slice(offset, offset + size)}\r\n`;
    offset += size;
  }
  sizeLine(0);
  if (random.next() < 0.3) {
    for (let n = 1 + random.int(3); n > 0; n--) {
      out += `${randomName(random)}:${randomOws(random)}${randomValue(random)}\r\n`;
    }
  }
  return [`${out}\r\n`, sizes];
}

/**
 * Generates a valid response to GET or HEAD: maybe interim 1xx responses
 * first, then a final one with random fields and a body framed by
 * Content-Length, chunked, or the end of the stream (or none at all).
 *
 * @param random The case's random source.
 * @param maxBody Most body bytes.
 * @returns The bytes and what they mean.
 */
function generateResponse(random: Random, maxBody?: number): Generated {
  const method = random.next() < 0.1 ? "HEAD" : "GET";
  let wire = "";
  let largestHead = 0;
  let mostFields = 0;
  for (let n = random.next() < 0.15 ? 1 + random.int(2) : 0; n > 0; n--) {
    const [line] = statusLine(random, "HTTP/1.1", random.pick([100, 102, 103]));
    let head = `${line}\r\n`;
    const count = random.int(3);
    for (let i = 0; i < count; i++) {
      head += `${random.pick(["Link", "X-Progress"])}:${randomOws(random)}${
        randomValue(random)
      }\r\n`;
    }
    head += "\r\n";
    largestHead = Math.max(largestHead, head.length);
    mostFields = Math.max(mostFields, count);
    wire += head;
  }
  const roll = random.next();
  const status = roll < 0.12
    ? random.pick([204, 304])
    : roll < 0.7
    ? random.pick([200, 201, 400, 404, 409, 500])
    : 200 + random.int(800);
  const noBody = status === 204 || status === 304 || method === "HEAD";
  let framing: BodyFraming["kind"] = noBody
    ? "none"
    : random.pick(["length", "length", "chunked", "chunked", "close"] as const);
  const version = framing === "close" && random.next() < 0.3 ? "HTTP/1.0" : "HTTP/1.1";
  const body = noBody ? "" : randomBody(random, maxBody);
  const lines: FieldLine[] = [];
  const fieldTotal = random.next() < 0.03 ? 100 + random.int(200) : random.int(9);
  for (let i = 0; i < fieldTotal; i++) {
    lines.push(fieldLine(random, randomName(random), randomValue(random)));
  }
  const lengthName = () => randomCase(random, "Content-Length");
  const lengthValue = (length: number) =>
    (random.next() < 0.1 ? "0".repeat(1 + random.int(3)) : "") + String(length);
  if (framing === "length") {
    const value = lengthValue(body.length);
    const roll = random.next();
    if (roll < 0.08) {
      lines.push(fieldLine(random, lengthName(), value));
      lines.push(fieldLine(random, lengthName(), value));
    } else if (roll < 0.14) {
      const list = `${value},${randomOws(random)}${value}`;
      lines.push(fieldLine(random, lengthName(), list));
    } else {
      lines.push(fieldLine(random, lengthName(), value));
    }
  } else if (framing === "chunked") {
    lines.push(
      fieldLine(random, randomCase(random, "Transfer-Encoding"), randomCase(random, "chunked")),
    );
  } else if (framing === "none" && random.next() < 0.4) {
    // Ignored for HEAD, 204 and 304: what a GET would have had.
    lines.push(
      random.next() < 0.7
        ? fieldLine(random, lengthName(), lengthValue(random.int(100_000)))
        : fieldLine(random, randomCase(random, "Transfer-Encoding"), "chunked"),
    );
  }
  let keepAlive = framing !== "close";
  if (random.next() < 0.25 || version === "HTTP/1.0") {
    // HTTP/1.0 only with a close-delimited body and `Connection: close`:
    // berth pools a 1.0 connection as it does a 1.1 one, where RFC 9112
    // §9.3 says a 1.0 server closes unless it sends keep-alive. These
    // cases do not pin that behaviour down.
    const close = version === "HTTP/1.0" || random.next() < 0.5;
    lines.push(
      fieldLine(
        random,
        randomCase(random, "Connection"),
        close ? random.pick(["close", "Close", "keep-alive, close"]) : "keep-alive",
      ),
    );
    if (close) keepAlive = false;
  }
  shuffle(random, lines);
  const [line, reason] = statusLine(random, version, status);
  const headAt = wire.length;
  let head = `${line}\r\n`;
  const fieldsAt = wire.length + head.length;
  for (const field of lines) head += `${field.name}:${field.raw}\r\n`;
  head += "\r\n";
  largestHead = Math.max(largestHead, head.length);
  mostFields = Math.max(mostFields, lines.length);
  wire += head;
  const headEnd = wire.length;
  let contentLengthAt: [number, number] | undefined;
  const lengthField = lines.findIndex((field) => field.name.toLowerCase() === "content-length");
  if (lengthField !== -1) {
    let at = fieldsAt;
    for (const field of lines.slice(0, lengthField)) at += field.name.length + field.raw.length + 3;
    const field = lines[lengthField]!;
    at += field.name.length + 1;
    contentLengthAt = [at, at + field.raw.length];
  }
  let chunkSizes: [number, number][] = [];
  if (framing === "chunked") {
    const [encoded, sizes] = chunkedBody(random, body);
    chunkSizes = sizes.map(([from, to]) => [wire.length + from, wire.length + to]);
    wire += encoded;
  } else if (framing !== "none") {
    wire += body;
  }
  if (noBody) framing = "none";
  return {
    wire: bytesOf(wire),
    method,
    status,
    reason,
    fields: lines.map((field) => [field.name, field.value]),
    body: bytesOf(body),
    framing,
    keepAlive,
    largestHead,
    mostFields,
    headAt,
    headEnd,
    fieldsAt,
    fieldCount: lines.length,
    chunkSizes,
    contentLengthAt,
  };
}

// ---------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------

/**
 * A damaged copy of a generated response: a `mutate` edit (most often), a
 * cut, random bytes, a huge chunk size, an odd Content-Length, or a head
 * grown to the limits (size or field count, one either side).
 *
 * @param random The case's random source.
 * @param generated The valid response.
 * @param limits The limits the client will apply.
 * @returns The damaged bytes and what was done.
 */
function damage(random: Random, generated: Generated, limits: HeadLimits): [Uint8Array, string] {
  const wire = generated.wire;
  const text = latin1(wire);
  const roll = random.next();
  if (roll < 0.1) return [wire.subarray(0, random.int(wire.length + 1)), "cut"];
  if (roll < 0.17) {
    const at = random.int(wire.length + 1);
    return [
      concat([wire.subarray(0, at), random.bytes(1 + random.int(16)), wire.subarray(at)]),
      "bytes in",
    ];
  }
  if (roll < 0.21) {
    const prefix = random.next() < 0.5 ? bytesOf("HTTP/1.1 200 OK\r\n") : new Uint8Array(0);
    return [concat([prefix, random.bytes(random.int(200))]), "random bytes"];
  }
  if (roll < 0.28 && generated.chunkSizes.length > 0) {
    const [from, to] = random.pick(generated.chunkSizes);
    const hex = random.next() < 0.3
      ? random.pick([
        "1fffffffffffff",
        "20000000000000",
        "0001fffffffffffff",
        "ffffffffffffffffffff",
      ])
      : `1${randomHex(random, 10 + random.int(10))}`;
    return [bytesOf(text.slice(0, from) + hex + text.slice(to)), "huge chunk size"];
  }
  if (roll < 0.33 && generated.contentLengthAt !== undefined) {
    const [from, to] = generated.contentLengthAt;
    const value = random.pick([
      "99999999999999999",
      "9007199254740991",
      "9007199254740992",
      "0000000000000000005",
      "-1",
      "+5",
      "0x10",
      "1e3",
      "",
      " ",
      "5,6",
      "5, 5,",
      String(generated.body.length + random.int(5) - 2),
      `${generated.body.length}\x0b`,
      `\xa0${generated.body.length}`,
      `${generated.body.length}\x0c`,
    ]);
    return [bytesOf(text.slice(0, from) + value + text.slice(to)), "odd Content-Length"];
  }
  if (roll < 0.38) {
    // A head of about maxHeaderSize bytes.
    const headSize = generated.headEnd - generated.headAt;
    const grow = limits.maxHeaderSize + random.int(5) - 2 - headSize - 9;
    if (grow >= 0) {
      const at = generated.fieldsAt;
      return [
        bytesOf(`${text.slice(0, at)}X-Big: ${"b".repeat(grow)}\r\n${text.slice(at)}`),
        "big head",
      ];
    }
  }
  if (roll < 0.43) {
    // About maxHeaderCount fields.
    const add = limits.maxHeaderCount + random.int(3) - 1 - generated.fieldCount;
    if (add > 0 && add < 1000) {
      const at = generated.fieldsAt;
      return [
        bytesOf(text.slice(0, at) + "X-N: 1\r\n".repeat(add) + text.slice(at)),
        "many fields",
      ];
    }
  }
  return [mutate(random, wire, DELIMITERS), "mutate"];
}

// ---------------------------------------------------------------------------
// An in-memory connection
// ---------------------------------------------------------------------------

const NEXT = bytesOf("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext");

/** How a scripted connection goes on after its last response. */
type ScriptEnd = "eof" | "stall" | "reset";

/**
 * An in-memory `Deno.Conn` serving scripted responses: response `k` (its
 * pieces one read each, cut further when a read buffer is smaller) is
 * served once `k + 1` requests were written. After the last one it ends the
 * stream, is reset, or stalls until closed (an engine keeping the socket
 * open). A read that has to wait (for a request, or forever) calls `onStall`.
 */
class ScriptedConn {
  readonly #responses: Uint8Array[][];
  readonly #end: ScriptEnd;
  #response = 0;
  #piece = 0;
  #offset = 0;
  #wake: (() => void) | undefined;
  /** Requests written (one write each: small bodiless requests). */
  requests = 0;
  /** Whether `close` was called. */
  closed = false;
  /** Set when a request came before the previous response was read whole. */
  earlyRequest = false;
  /** Runs (in a microtask) when a read has nothing to serve and waits. */
  onStall: (() => void) | undefined;
  /** Runs after each read that served bytes. */
  onServe: (() => void) | undefined;

  /**
   * @param responses The pieces of each response.
   * @param end What comes after the last response.
   */
  constructor(responses: Uint8Array[][], end: ScriptEnd = "eof") {
    this.#responses = responses;
    this.#end = end;
  }

  /** The `Deno.Conn` face of this object. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  /** Serves the next bytes of the script. */
  async read(into: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.closed) throw new Deno.errors.BadResource("Bad resource ID");
      if (this.#response < this.requests && this.#response < this.#responses.length) {
        const pieces = this.#responses[this.#response]!;
        if (this.#piece < pieces.length) {
          const piece = pieces[this.#piece]!;
          const n = Math.min(into.length, piece.length - this.#offset);
          into.set(piece.subarray(this.#offset, this.#offset + n));
          this.#offset += n;
          if (this.#offset === piece.length) {
            this.#piece++;
            this.#offset = 0;
          }
          this.onServe?.();
          return n;
        }
        this.#response++;
        this.#piece = 0;
        this.#offset = 0;
        continue;
      }
      if (this.#response >= this.#responses.length && this.#end !== "stall") {
        if (this.#end === "eof") return null;
        throw new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
      }
      // Nothing to serve until the next request (or ever): the client waits.
      queueMicrotask(() => this.onStall?.());
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Takes a request whole. */
  write(bytes: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    const previous = this.requests - 1;
    if (previous >= 0 && previous < this.#responses.length) {
      const done = this.#response > previous ||
        this.#piece === this.#responses[previous]!.length;
      if (!done) this.earlyRequest = true;
    }
    this.requests++;
    this.#wake?.();
    return Promise.resolve(bytes.length);
  }

  /** Closes; a pending read fails as Deno's would. */
  close(): void {
    this.closed = true;
    this.#wake?.();
  }

  // The rest of `Deno.Conn`: nothing to do in memory.

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  ref(): void {}

  unref(): void {}

  setNoDelay(): void {}

  setKeepAlive(): void {}

  get localAddr(): Deno.Addr {
    return { transport: "unix", path: "fuzz" };
  }

  get remoteAddr(): Deno.Addr {
    return { transport: "unix", path: "fuzz" };
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A client whose first connection is `first`; later ones answer `next`. */
interface ScriptedClient {
  client: HttpClient;
  /** Every connection handed out, in order. */
  conns: ScriptedConn[];
}

/**
 * An `HttpClient` over scripted connections, with no timeouts of its own
 * (each case is bounded by the test instead).
 *
 * @param first The first connection.
 * @param limits Head limits.
 * @returns The client and its connections.
 */
function scriptedClient(first: ScriptedConn, limits: HeadLimits): ScriptedClient {
  const conns: ScriptedConn[] = [];
  const client = new HttpClient({
    connect: () => {
      const conn = conns.length === 0 ? first : new ScriptedConn([[NEXT], [NEXT]]);
      conns.push(conn);
      return Promise.resolve(conn.conn);
    },
    host: "fuzz://engine",
    hostHeader: "docker",
    headersTimeout: 0,
    bodyTimeout: 0,
    ...limits,
  });
  return { client, conns };
}

/** A response read to its end. */
interface Received {
  status: number;
  reason: string;
  fields: Record<string, string>;
  body: Uint8Array;
}

type ReadMode = "bytes" | "stream" | "batches" | "reused buffer" | "reader";
const READ_MODES: readonly ReadMode[] = ["bytes", "stream", "batches", "reused buffer", "reader"];

/** The parts of a response the tests compare, body given. */
function received(response: HttpResponse, body: Uint8Array): Received {
  return {
    status: response.status,
    reason: response.statusText,
    fields: response.headers.toObject(),
    body,
  };
}

/**
 * Sends `method /fuzz` and reads the response whole, one of five ways (one
 * of them copies each batch, as `reuseReadBuffer` asks of its consumer).
 *
 * @param client The client.
 * @param method GET, HEAD or POST (without a body).
 * @param mode How the body is read.
 * @param signal Aborts the call.
 * @returns The response.
 */
async function requestWhole(
  client: HttpClient,
  method: string,
  mode: ReadMode,
  signal?: AbortSignal,
): Promise<Received> {
  const reuseReadBuffer = mode === "reused buffer";
  const request = { method, target: "/fuzz", signal, reuseReadBuffer };
  if (mode === "reader") {
    return await client.request(
      request,
      async (response) => received(response, await response.bytes()),
    );
  }
  const response = await client.request(request);
  if (mode === "bytes") return received(response, await response.bytes());
  if (mode === "stream") {
    return received(response, concat(await Array.fromAsync(response.stream())));
  }
  const parts: Uint8Array[] = [];
  let batch: Uint8Array[] | null;
  while ((batch = await response.readBatch()) !== null) {
    assert.ok(batch.length > 0 && batch.every((part) => part.length > 0), "empty batch or piece");
    parts.push(...(reuseReadBuffer ? batch.map((part) => part.slice()) : batch));
  }
  return received(response, concat(parts));
}

/**
 * What differs between a response and the reference's, if anything.
 *
 * @returns A description, or `undefined` when they agree.
 */
function difference(got: Received, want: Received): string | undefined {
  if (got.status !== want.status) return `status ${got.status}, want ${want.status}`;
  if (got.reason !== want.reason) {
    return `reason ${JSON.stringify(got.reason)}, want ${JSON.stringify(want.reason)}`;
  }
  const gotFields = JSON.stringify(got.fields);
  const wantFields = JSON.stringify(want.fields);
  if (gotFields !== wantFields) return `fields ${gotFields}, want ${wantFields}`;
  if (!sameBytes(got.body, want.body)) {
    let at = 0;
    while (at < got.body.length && got.body[at] === want.body[at]) at++;
    return `body of ${got.body.length} bytes, want ${want.body.length}; first difference at ${at}: ${
      show(got.body.subarray(at, at + 40))
    } vs ${show(want.body.subarray(at, at + 40))}`;
  }
  return undefined;
}

/**
 * Asserts that the connection after a response goes as it must: a second
 * request gets `next`, on the first connection only when `reused` says so.
 *
 * @param scripted The client.
 * @param reused Whether the first connection must carry it.
 * @param where For messages.
 * @param earlier Requests the first connection carried before the one checked.
 */
async function checkNextRequest(
  scripted: ScriptedClient,
  reused: boolean,
  where: string,
  earlier = 0,
): Promise<void> {
  const next = await scripted.client.request({ method: "GET", target: "/next" });
  assert.equal(next.status, 200, where);
  assert.equal(latin1(await next.bytes()), "next", where);
  const first = scripted.conns[0]!;
  assert.equal(
    first.requests,
    earlier + (reused ? 2 : 1),
    `${where}: requests on the first connection`,
  );
  assert.equal(scripted.conns.length, reused ? 1 : 2, `${where}: connections opened`);
  assert.equal(first.closed, !reused, `${where}: first connection closed`);
  assert.ok(!first.earlyRequest, `${where}: a request was sent before the response was read whole`);
}

// ---------------------------------------------------------------------------
// ChunkedDecoder
// ---------------------------------------------------------------------------

/** What the decoder made of some pieces. */
type Decoded =
  | { error: unknown }
  | { done: boolean; payload: Uint8Array; consumed: number };

/**
 * Feeds `pieces` to a new decoder until it is done or fails; pieces after
 * the end must be refused (0 consumed).
 */
function decodeAll(pieces: Uint8Array[]): Decoded {
  const decoder = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  let consumed = 0;
  try {
    for (const piece of pieces) {
      const before = out.length;
      const n = decoder.decode(piece, out);
      for (const part of out.slice(before)) {
        assert.ok(
          part.length > 0 && part.buffer === piece.buffer,
          "payload is a non-empty view of the input",
        );
      }
      if (!decoder.done) assert.equal(n, piece.length, "every byte consumed before the end");
      consumed += n;
    }
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    let again: unknown;
    try {
      decoder.decode(new Uint8Array([48]), []);
    } catch (later) {
      again = later;
    }
    assert.equal(again, error, "a failed decoder throws the same error again");
    return { error };
  }
  return { done: decoder.done, payload: concat(out), consumed };
}

Deno.test("ChunkedDecoder decodes random valid chunked bodies split anywhere exactly", () => {
  const name = "ChunkedDecoder valid";
  for (let index = 0; index < fuzzCases(800); index++) {
    const { random, label } = fuzzCase(1, index, name);
    const body = randomBody(random);
    const [encoded] = chunkedBody(random, body);
    const next = random.next() < 0.5 ? "HTTP/1.1 200 OK\r\n" : "";
    const input = bytesOf(encoded + next);
    const pieces = cutUp(random, input);
    const where = `${label}: input ${show(input)} cut at ${cutsOf(pieces)}`;
    const result = decodeAll(pieces);
    assert.ok(
      !("error" in result),
      `${where}: ${"error" in result ? describeError(result.error) : ""}`,
    );
    assert.ok(result.done, `${where}: not done`);
    assert.equal(result.consumed, encoded.length, `${where}: consumed`);
    assert.ok(sameBytes(result.payload, bytesOf(body)), `${where}: payload differs`);
  }
});

Deno.test("ChunkedDecoder agrees with the reference on damaged bodies, however they are split", () => {
  const name = "ChunkedDecoder damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(2, index, name);
    const body = latin1(random.bytes(random.int(300)));
    let [encoded, sizes] = chunkedBody(random, body);
    if (random.next() < 0.15 && sizes.length > 0) {
      const [from, to] = random.pick(sizes);
      encoded = encoded.slice(0, from) + randomHex(random, 12 + random.int(8)) + encoded.slice(to);
    }
    if (random.next() < 0.02) {
      // Trailers or extensions around their limits.
      encoded = random.next() < 0.5
        ? `0\r\nX: ${"t".repeat(MAX_TRAILERS - 6 + random.int(5))}\r\n\r\n`
        : `1;${"e".repeat(MAX_CHUNK_LINE - 3 + random.int(4))}\r\nz\r\n0\r\n\r\n`;
    }
    const input = random.next() < 0.1
      ? bytesOf(encoded)
      : mutate(random, bytesOf(encoded), DELIMITERS);
    const pieces = cutUp(random, input);
    const where = `${label}: input ${show(input)} cut at ${cutsOf(pieces)}`;
    const want = referenceChunked(latin1(input), 0);
    const got = decodeAll(pieces);
    if ("error" in want || "error" in got) {
      assert.ok(
        "error" in want && "error" in got,
        `${where}: reference says ${JSON.stringify(want)}, decoder ${
          "error" in got ? describeError(got.error) : "decoded it"
        }`,
      );
      assert.ok(got.error instanceof DockerProtocolError, `${where}: ${describeError(got.error)}`);
      continue;
    }
    assert.equal(got.done, want.done, `${where}: done`);
    assert.ok(sameBytes(got.payload, bytesOf(want.payload)), `${where}: payload differs`);
    assert.equal(got.consumed, want.done ? want.end : input.length, `${where}: consumed`);
  }
});

// ---------------------------------------------------------------------------
// parseHead and bodyFraming
// ---------------------------------------------------------------------------

/** `parseHead` on the first `length` bytes, either way the exchange calls it. */
function parsePrefix(random: Random, bytes: Uint8Array, limits: HeadLimits, length: number) {
  return random.next() < 0.5
    ? parseHead(bytes, limits, length)
    : parseHead(bytes.subarray(0, length), limits);
}

/**
 * Asserts that a head `parseHead` returned matches the reference's: status,
 * reason, size, fields (by `toObject` and `get` in random case), framing.
 */
function checkHead(
  random: Random,
  bytes: Uint8Array,
  limits: HeadLimits,
  want: RefHead,
  method: string,
  where: string,
): void {
  const head = parseHead(bytes, limits);
  assert.ok(head !== undefined, `${where}: parseHead said the head is incomplete`);
  assert.equal(head.status, want.status, `${where}: status`);
  assert.equal(head.statusText, want.reason, `${where}: reason`);
  assert.equal(head.size, want.end, `${where}: size`);
  const fields = joinFields(want.fields);
  assert.deepEqual(head.headers.toObject(), fields, `${where}: fields`);
  for (const [name, value] of Object.entries(fields)) {
    assert.equal(head.headers.get(randomCase(random, name)), value, `${where}: get(${name})`);
  }
  assert.equal(head.headers.get("x-not-sent-by-fuzz"), null, `${where}: get of an absent field`);
  const framing = referenceFraming(want, method);
  let got: BodyFraming | undefined;
  try {
    got = bodyFraming(head, method);
  } catch (error) {
    assert.ok(
      error instanceof DockerProtocolError,
      `${where}: bodyFraming threw ${describeError(error)}`,
    );
    assert.equal(
      framing.kind,
      "error",
      `${where}: bodyFraming threw ${describeError(error)}, want ${JSON.stringify(framing)}`,
    );
    return;
  }
  assert.deepEqual(got, framing, `${where}: framing`);
}

Deno.test("parseHead and bodyFraming read random valid heads exactly, and say undefined for every prefix", () => {
  const name = "parseHead valid";
  for (let index = 0; index < fuzzCases(400); index++) {
    const { random, label } = fuzzCase(3, index, name);
    const generated = generateResponse(random, 256);
    // The final head, after any interim ones.
    const bytes = generated.wire.subarray(generated.headAt);
    const size = generated.headEnd - generated.headAt;
    const limits = { maxHeaderSize: Infinity, maxHeaderCount: Math.max(256, generated.fieldCount) };
    const where = `${label}: head ${show(bytes.subarray(0, size))}`;
    // Every prefix of a short head, a sample of a long one's.
    const step = Math.max(1, Math.floor(size / 400));
    for (let length = random.int(step); length < size; length += step) {
      let result;
      try {
        result = parsePrefix(random, bytes, limits, length);
      } catch (error) {
        assert.fail(`${where}: the first ${length} bytes threw ${describeError(error)}`);
      }
      assert.equal(result, undefined, `${where}: the first ${length} bytes gave a head`);
    }
    const want = referenceHead(latin1(bytes), 0, limits);
    assert.ok("status" in want, `${where}: the reference rejects a generated head`);
    assert.equal(want.status, generated.status, `${where}: reference status`);
    assert.deepEqual(want.fields, generated.fields, `${where}: reference fields`);
    checkHead(random, bytes, limits, want, generated.method, where);
    const head = parseHead(bytes, limits)!;
    assert.equal(head.statusText, generated.reason, `${where}: reason`);
    const framing = bodyFraming(head, generated.method);
    assert.equal(framing.kind, generated.framing, `${where}: framing`);
    if (framing.kind === "length") assert.equal(framing.length, generated.body.length, where);
  }
});

Deno.test("parseHead agrees with the reference on damaged heads and throws only DockerProtocolError", () => {
  const name = "parseHead damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(4, index, name);
    const generated = generateResponse(random, 256);
    const limits = random.next() < 0.5
      ? DEFAULT_LIMITS
      : { maxHeaderSize: Infinity, maxHeaderCount: 1 + random.int(12) };
    const [bytes, how] = damage(random, generated, { ...limits, maxHeaderSize: 1024 });
    const where = `${label}: ${how}: input ${show(bytes)}`;
    const referenceLimits = { ...limits, maxHeaderSize: Infinity };
    const want = referenceHead(latin1(bytes), 0, referenceLimits);
    let threw: unknown;
    let head;
    try {
      head = parseHead(bytes, limits);
    } catch (error) {
      threw = error;
    }
    if (threw !== undefined) {
      assert.ok(threw instanceof DockerProtocolError, `${where}: threw ${describeError(threw)}`);
      // Thrown early (before the empty line) only for what is wrong already.
      assert.ok(!("status" in want), `${where}: threw ${describeError(threw)} for a valid head`);
      continue;
    }
    if ("incomplete" in want) {
      assert.equal(head, undefined, `${where}: a head without an empty line`);
      continue;
    }
    assert.ok(
      !("error" in want),
      `${where}: accepted, but the reference says ${JSON.stringify(want)}`,
    );
    checkHead(random, bytes, limits, want, generated.method, where);
    // Split anywhere: every prefix is incomplete, never an error.
    for (let n = 0; n < 6; n++) {
      const length = random.int(want.end);
      let result;
      try {
        result = parsePrefix(random, bytes, limits, length);
      } catch (error) {
        assert.fail(`${where}: the first ${length} bytes threw ${describeError(error)}`);
      }
      assert.equal(result, undefined, `${where}: the first ${length} bytes gave a head`);
    }
  }
});

// ---------------------------------------------------------------------------
// HttpClient end to end
// ---------------------------------------------------------------------------

Deno.test("HttpClient reads random valid responses split anywhere exactly and reuses the connection only when it may", async () => {
  const name = "HttpClient valid";
  for (let index = 0; index < fuzzCases(1000); index++) {
    const { random, label } = fuzzCase(5, index, name);
    const generated = generateResponse(random);
    // Exactly the largest head now and then (the `next` response needs 38 bytes, 1 field).
    const limits = random.next() < 0.2
      ? {
        maxHeaderSize: Math.max(generated.largestHead, 38),
        maxHeaderCount: Math.max(generated.mostFields, 1),
      }
      : {
        maxHeaderSize: Math.max(DEFAULT_LIMITS.maxHeaderSize, generated.largestHead),
        maxHeaderCount: Math.max(DEFAULT_LIMITS.maxHeaderCount, generated.mostFields),
      };
    const pieces = cutUp(random, generated.wire);
    // POST answers are read like GET's; it only may not be replayed.
    const method = generated.method === "GET" && random.next() < 0.1 ? "POST" : generated.method;
    const roll = random.next();
    const mode = roll < 0.12 ? "cancel" : roll < 0.24 ? "abort" : random.pick(READ_MODES);
    const where = `${label}: ${method} (${mode}) answered ${show(generated.wire)} cut at ${
      cutsOf(pieces)
    }`;
    const want = referenceExchange(generated.wire, generated.method, limits);
    assert.ok(
      want.ok,
      `${where}: the reference rejects a generated response: ${"why" in want ? want.why : ""}`,
    );
    assert.equal(
      difference(want, { ...generated, fields: joinFields(generated.fields) }),
      undefined,
      where,
    );
    const first = new ScriptedConn(generated.keepAlive ? [pieces, [NEXT]] : [pieces]);
    const scripted = scriptedClient(first, limits);
    try {
      await withDeadline(
        (async () => {
          if (mode === "cancel") {
            // Read at most one batch, then cancel: the connection goes
            // back only if the whole response was off the wire already.
            const response = await scripted.client.request({ method, target: "/fuzz" });
            const batch = await response.readBatch();
            if (batch !== null) {
              const part = concat(batch);
              assert.ok(
                sameBytes(part, generated.body.subarray(0, part.length)),
                `${where}: first batch`,
              );
            }
            const finished = response.finished;
            response.cancel(new Error("fuzz cancel"));
            await checkNextRequest(
              scripted,
              finished && generated.keepAlive,
              `${where} (cancelled)`,
            );
            return;
          }
          if (mode === "abort") {
            // Abort after some read: the call either had its whole
            // response already, or fails with the reason and drops the
            // connection.
            const controller = new AbortController();
            const reason = new Error("fuzz abort");
            const after = 1 + random.int(pieces.length + 1);
            let reads = 0;
            first.onServe = () => {
              if (++reads === after) queueMicrotask(() => controller.abort(reason));
            };
            let got: Received | undefined;
            try {
              got = await requestWhole(
                scripted.client,
                method,
                random.pick(READ_MODES),
                controller.signal,
              );
            } catch (error) {
              assert.equal(error, reason, `${where}: aborted after ${after} reads`);
            }
            first.onServe = undefined;
            if (got !== undefined) assert.equal(difference(got, want), undefined, where);
            // An abort that lands between a read and the exchange taking it
            // up is lost when that read held the head: the call resolves,
            // but the connection is closed all the same. So the connection
            // goes back to the pool only after a whole response, never after
            // a failure.
            const reused = !first.closed;
            assert.ok(
              !reused || (got !== undefined && generated.keepAlive),
              `${where}: connection kept after an aborted call`,
            );
            await checkNextRequest(scripted, reused, `${where} (aborted after ${after} reads)`);
            return;
          }
          const got = await requestWhole(scripted.client, method, mode);
          assert.equal(difference(got, want), undefined, where);
          await checkNextRequest(scripted, generated.keepAlive, where);
        })(),
        CASE_DEADLINE,
        where,
      );
    } finally {
      scripted.client.close();
    }
  }
});

/**
 * Runs one damaged response through the client and checks it against the
 * reference: on a new or a reused (pooled) connection, followed by the end
 * of the stream, a reset, or a stall. A client waiting in a stall is
 * aborted, which must be allowed only when the bytes say it has to wait
 * (or have gone wrong already). An empty answer on a reused connection is
 * a stale connection: replayed on a new one (GET, HEAD), else a
 * `DockerConnectionError` (POST).
 */
async function runDamagedCase(random: Random, label: string): Promise<void> {
  // Bodies up to 20 KiB: past one 16 KiB read, and `mutate` copies them whole.
  const generated = generateResponse(random, 20_000);
  const limits = random.next() < 0.5 ? DEFAULT_LIMITS : {
    maxHeaderSize: 64 + random.int(2048),
    maxHeaderCount: 1 + random.int(24),
  };
  const [wire, how] = damage(random, generated, limits);
  const pieces = cutUp(random, wire);
  const method = generated.method === "GET" && random.next() < 0.15 ? "POST" : generated.method;
  const roll = random.next();
  const end: ScriptEnd = roll < 0.55 ? "eof" : roll < 0.85 ? "stall" : "reset";
  const reuse = random.next() < 0.3;
  const mode = random.pick(READ_MODES);
  const where = `${label}: ${how}, ${method} (${mode}) on a ${
    reuse ? "reused" : "new"
  } connection, limits ${limits.maxHeaderSize}/${limits.maxHeaderCount}, then ${end}: ${
    show(wire)
  } cut at ${cutsOf(pieces)}`;
  const stale = reuse && wire.length === 0 && end !== "stall";
  const want = stale && method !== "POST"
    ? referenceExchange(NEXT, method, limits)
    : referenceExchange(wire, method, limits);
  const first = new ScriptedConn([
    ...(reuse ? [[NEXT]] : []),
    pieces,
    ...(end === "stall" ? [[NEXT]] : []),
  ], end);
  const scripted = scriptedClient(first, limits);
  const controller = new AbortController();
  const stallReason = new Error("fuzz: the client waits for more bytes");
  let stalled = false;
  try {
    await withDeadline(
      (async () => {
        if (reuse) {
          const warm = await scripted.client.request({ method: "GET", target: "/warm" });
          assert.equal(latin1(await warm.bytes()), "next", where);
        }
        first.onStall = () => {
          stalled = true;
          controller.abort(stallReason);
        };
        let got: Received | undefined;
        let failure: unknown;
        try {
          got = await requestWhole(scripted.client, method, mode, controller.signal);
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          failure = error;
        }
        first.onStall = undefined;
        const verdict = want.ok
          ? `reference reads status ${want.status}, ${want.body.length} body bytes${
            want.untilEof ? " (to the end of the stream)" : ""
          }`
          : `reference rejects: ${want.why}${want.untilEof ? " (at the end of the stream)" : ""}`;
        if (stalled) {
          assert.equal(
            failure,
            stallReason,
            `${where}: after the abort: ${describeError(failure)}`,
          );
          assert.ok(!want.ok || want.untilEof, `${where}: the client waited, but the ${verdict}`);
        } else if (got !== undefined) {
          assert.ok(
            want.ok && !(end !== "eof" && want.untilEof),
            `${where}: the client read status ${got.status}, but the ${verdict}`,
          );
          assert.equal(difference(got, want), undefined, `${where}: ${verdict}`);
        } else {
          assert.ok(
            failure instanceof DockerProtocolError || failure instanceof DockerConnectionError,
            `${where}: threw ${describeError(failure)}`,
          );
          assert.ok(failure instanceof DockerError);
          assert.ok(
            !want.ok || (end === "reset" && want.untilEof),
            `${where}: threw ${describeError(failure)}, but the ${verdict}`,
          );
          if (stale) {
            assert.ok(
              failure instanceof DockerConnectionError,
              `${where}: ${describeError(failure)}`,
            );
          }
        }
        if (stale && method !== "POST") {
          // Replayed on a new connection, which answered `next`.
          assert.equal(scripted.conns.length, 2, `${where}: connections opened`);
          assert.ok(first.closed, `${where}: the stale connection is still open`);
          return;
        }
        if (got === undefined) {
          // A failed exchange closes its connection and never reuses it.
          assert.ok(first.closed, `${where}: the failed connection is still open`);
          await checkNextRequest(scripted, false, `${where}: after the failure`, reuse ? 1 : 0);
          return;
        }
        // After a good response, a later request still works; the first
        // connection may go back to the pool, unless it had bytes beyond
        // the response (the engine's fault: anything may happen then).
        if (want.ok && want.end < wire.length) return;
        const next = await scripted.client.request({ method: "GET", target: "/next" });
        assert.equal(latin1(await next.bytes()), "next", where);
      })(),
      CASE_DEADLINE,
      where,
    );
  } finally {
    scripted.client.close();
  }
}

Deno.test("HttpClient answers damaged responses as the reference does, with DockerError only, and never reuses a failed connection", async () => {
  const name = "HttpClient damaged";
  for (let index = 0; index < fuzzCases(2000); index++) {
    const { random, label } = fuzzCase(6, index, name);
    await runDamagedCase(random, label);
  }
});

// ---------------------------------------------------------------------------
// Regressions found by the fuzz tests
// ---------------------------------------------------------------------------

/**
 * Values `trim()` drops but OWS (RFC 9110 §5.6.3: spaces and tabs) does not
 * include: vertical tab, form feed, no-break space. `Content-Length: 2\f`
 * was read as 2 and `Transfer-Encoding: \xa0chunked` as chunked.
 */
const NOT_OWS: [string, DockerProtocolErrorCode][] = [
  ["Content-Length: 2\f", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: \x0b2", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2\xa0", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2,\xa02", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2\r\nContent-Length: 2\f", "INVALID_CONTENT_LENGTH"],
  ["Transfer-Encoding: chunked\x0b", "UNSUPPORTED_TRANSFER_ENCODING"],
  ["Transfer-Encoding: \xa0chunked", "UNSUPPORTED_TRANSFER_ENCODING"],
];

Deno.test("bodyFraming trims only spaces and tabs around Content-Length and Transfer-Encoding values", () => {
  for (const [fields, code] of NOT_OWS) {
    const head = parseHead(bytesOf(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`), DEFAULT_LIMITS)!;
    assert.throws(() => bodyFraming(head, "GET"), (error) => {
      assert.ok(error instanceof DockerProtocolError, describeError(error));
      assert.equal(error.code, code, JSON.stringify(fields));
      return true;
    });
  }
  const framing = (fields: string) =>
    bodyFraming(parseHead(bytesOf(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`), DEFAULT_LIMITS)!, "GET");
  assert.deepEqual(framing("Content-Length: 2 ,\t2 "), { kind: "length", length: 2 });
  assert.deepEqual(framing("Transfer-Encoding:\t chunked \t"), { kind: "chunked" });
});

Deno.test("HttpClient rejects a Content-Length or Transfer-Encoding padded with VT, FF or NBSP", async () => {
  for (const [fields, code] of NOT_OWS) {
    const wire = `HTTP/1.1 200 OK\r\n${fields}\r\n\r\nok`;
    const scripted = scriptedClient(new ScriptedConn([[bytesOf(wire)]]), DEFAULT_LIMITS);
    try {
      let caught: unknown;
      try {
        await requestWhole(scripted.client, "GET", "bytes");
      } catch (error) {
        caught = error;
      }
      assert.ok(
        caught instanceof DockerProtocolError,
        `${JSON.stringify(wire)}: ${describeError(caught)}`,
      );
      assert.equal(caught.code, code, JSON.stringify(wire));
      assert.ok(scripted.conns[0]!.closed, "the connection is closed, not pooled");
    } finally {
      scripted.client.close();
    }
  }
});
