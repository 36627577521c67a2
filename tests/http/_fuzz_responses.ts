/**
 * Random HTTP/1.1 responses for the fuzz tests: valid ones generated with
 * what they mean (status, fields, body, framing, where each part lies in
 * the bytes), and damaged copies of them.
 *
 * @module
 */

import type { DockerProtocolErrorCode } from "../../src/errors.ts";
import type { BodyFraming, HeadLimits } from "../../src/http/response_head.ts";
import { concat } from "../_fake_engine.ts";
import { DELIMITERS, mutate, type Random, shuffle, tiered } from "../_fuzz.ts";
import { bytesOf, latin1 } from "./_reference.ts";

/** The head limits `HttpClient` applies by default. */
export const DEFAULT_LIMITS: HeadLimits = { maxHeaderSize: 65_536, maxHeaderCount: 256 };

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
export function randomCase(random: Random, text: string): string {
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
export function randomHex(random: Random, length: number): string {
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
export function randomBody(random: Random, max = 42_000): string {
  const length = tiered(random, [
    [0.1, () => 0],
    [0.5, () => 1 + random.int(64)],
    [0.94, () => 65 + random.int(2000)],
    [1, () => 2000 + random.int(70_000)],
  ]);
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
export interface Generated {
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
export function chunkedBody(random: Random, body: string): [string, [number, number][]] {
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
export function generateResponse(random: Random, maxBody?: number): Generated {
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
export function damage(
  random: Random,
  generated: Generated,
  limits: HeadLimits,
): [Uint8Array, string] {
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

/**
 * Values `trim()` drops but OWS (RFC 9110 §5.6.3: spaces and tabs) does not
 * include: vertical tab, form feed, no-break space. `Content-Length: 2\f`
 * was read as 2 and `Transfer-Encoding: \xa0chunked` as chunked.
 */
export const NOT_OWS: [string, DockerProtocolErrorCode][] = [
  ["Content-Length: 2\f", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: \x0b2", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2\xa0", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2,\xa02", "INVALID_CONTENT_LENGTH"],
  ["Content-Length: 2\r\nContent-Length: 2\f", "INVALID_CONTENT_LENGTH"],
  ["Transfer-Encoding: chunked\x0b", "UNSUPPORTED_TRANSFER_ENCODING"],
  ["Transfer-Encoding: \xa0chunked", "UNSUPPORTED_TRANSFER_ENCODING"],
];
