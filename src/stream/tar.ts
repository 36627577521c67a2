/**
 * POSIX tar (ustar with PAX extended headers), written and read as streams:
 * {@linkcode tarStream} turns entries into archive bytes and
 * {@linkcode readTar} turns archive bytes into entries. This is the format
 * of `GET/PUT /containers/{id}/archive`, `GET /containers/{id}/export`,
 * `GET /images/get`, `POST /images/load` and the build context.
 *
 * Both directions are pull-based: nothing is read or produced until the
 * consumer asks, and memory stays bounded by one input chunk plus one
 * header (at most `maxHeaderSize` for long-name headers), whatever the size
 * of the archive or of an entry. Entry data is passed on as views of the
 * input chunks (no copy).
 *
 * @module
 */

import { DockerError, DockerProtocolError } from "../errors.ts";
import {
  asciiStandIn,
  BLOCK,
  ByteSource,
  checksumMatches,
  EMPTY,
  fitsOctal,
  type HeaderFields,
  invalid,
  isAscii,
  isZeroBlock,
  notTar,
  padding,
  parsePax,
  paxNumber,
  paxRecord,
  premature,
  readNumber,
  readString,
  writeHeader,
} from "./_tar_format.ts";

/**
 * The kinds of entry {@linkcode tarStream} writes: regular files (type flag
 * `0`), directories (`5`), symlinks (`2`), hard links (`1`), and the
 * special files a build context may hold, which have no body: FIFOs (named
 * pipes, `6`), character devices (`3`) and block devices (`4`), the
 * devices with their `devmajor` and `devminor` numbers. {@linkcode readTar}
 * reads these three back as type `"other"` with their `typeflag`, the
 * devices with their `devmajor` and `devminor`.
 */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "fifo"
  | "character-device"
  | "block-device";

/** One entry for {@linkcode tarStream}. */
export interface TarEntry {
  /**
   * Path inside the archive, with `/` separators, such as `app/main.ts`. A
   * directory's name gets a trailing `/` if it lacks one. Names over 100
   * bytes or with non-ASCII characters are written in a PAX header.
   */
  name: string;
  /** Kind of entry. @default "file" */
  type?: TarEntryType;
  /**
   * Size of the body in bytes. Required when `body` is a stream (the
   * stream must yield exactly this many bytes); with a string or bytes body
   * it must match when given. Sizes of 8 GiB and more are written in a PAX
   * header. @default the body's length, or 0
   */
  size?: number;
  /**
   * Permission bits (with setuid, setgid and sticky), without the file
   * type bits: the type flag says the kind.
   * @default 0o644 for files, hard links, FIFOs and devices, 0o755 for directories, 0o777 for symlinks
   */
  mode?: number;
  /** Modification time, as a `Date` or in seconds since the epoch. @default now */
  mtime?: Date | number;
  /** Owner user id. @default 0 */
  uid?: number;
  /** Owner group id. @default 0 */
  gid?: number;
  /** Owner user name. @default "" */
  uname?: string;
  /** Owner group name. @default "" */
  gname?: string;
  /**
   * Target of a symlink (any path) or of a hard link (the name of an
   * earlier entry). Required for those two types. Targets over 100 bytes or
   * with non-ASCII characters are written in a PAX header.
   */
  linkname?: string;
  /**
   * Contents of a file: bytes, a string (written as UTF-8), or a stream of
   * exactly `size` bytes (read only as the archive is read). Only files
   * have a body. @default empty
   */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /**
   * Major device number of a character or block device (the ustar
   * `devmajor` field), from 0 to 2097151 (`0o7777777`, what the octal
   * field holds; Linux majors stop at 4095). Only devices have one.
   * @default 0
   */
  devmajor?: number;
  /**
   * Minor device number of a character or block device (the ustar
   * `devminor` field), from 0 to 2097151 (Linux minors stop at 1048575).
   * Only devices have one. @default 0
   */
  devminor?: number;
}

/** One entry of an archive read by {@linkcode readTar}. */
export interface TarReaderEntry {
  /**
   * Path as stored (PAX `path`, GNU long name, or ustar prefix and name);
   * directories usually end with `/`. Not sanitised: see `extractTar` in
   * `extract.ts` before using it as a file system path.
   */
  name: string;
  /**
   * Kind of entry; devices, FIFOs and unknown kinds are `"other"` (tell
   * them apart by `typeflag`: `"3"` character device, `"4"` block device,
   * `"6"` FIFO, which is how {@linkcode tarStream}'s `character-device`,
   * `block-device` and `fifo` entries read back).
   */
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  /** The raw type flag, such as `"0"`, `"5"`, `"3"` (character device), `"6"` (FIFO), or `"\0"` (old regular file). */
  typeflag: string;
  /** Length of `body` in bytes (0 for directories, links, devices and FIFOs). */
  size: number;
  /** Permission and mode bits as stored (may include setuid, setgid, sticky). */
  mode: number;
  /** Modification time in seconds since the epoch (fractional with PAX). */
  mtime: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Owner user name, or `""`. */
  uname: string;
  /** Owner group name, or `""`. */
  gname: string;
  /** Target of a symlink or hard link, else `""`. */
  linkname: string;
  /** Major device number of a character or block device (`typeflag` `"3"` or `"4"`), else 0. */
  devmajor: number;
  /** Minor device number of a character or block device (`typeflag` `"3"` or `"4"`), else 0. */
  devminor: number;
  /**
   * The entry's data. Read it to its end or cancel it before reading the
   * next entry; when the next entry is read first, the rest of this body is
   * skipped and reading it afterwards fails.
   */
  body: ReadableStream<Uint8Array>;
}

/** Options of {@linkcode readTar}. */
export interface ReadTarOptions {
  /** Most entries (not counting extended headers) before failing. @default 1000000 */
  maxEntries?: number;
  /**
   * Largest PAX extended header or GNU long-name header, in bytes (these
   * are held in memory). The global PAX attributes in force are capped at
   * the same size. @default 1048576
   */
  maxHeaderSize?: number;
}

/** Entries whose header and in-memory body fit this size are emitted as one chunk. */
const COALESCE_SIZE = 64 * 1024;
/** Bytes read after the end-of-archive blocks before the input is cancelled instead. */
const MAX_TRAILER = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

const TYPEFLAGS: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

/** Largest value of an 8-byte octal ustar field (`devmajor`, `devminor`). */
const MAX_DEVICE_NUMBER = 0o7777777;

interface PreparedEntry {
  /** Header blocks (a PAX header first when needed). */
  head: Uint8Array;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  size: number;
}

function checkString(value: unknown, what: string, name: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`Tar entry "${name}": ${what} must be a string`);
  }
  if (value.includes("\0")) throw new TypeError(`Tar entry "${name}": ${what} contains a NUL byte`);
  return value;
}

function checkInteger(value: unknown, what: string, name: string, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new RangeError(
      `Tar entry "${name}": ${what} must be an integer from 0 to ${max} (got ${value})`,
    );
  }
  return value;
}

/** A device number of an entry: 0 when not given, refused on entries that are not devices. */
function deviceNumber(entry: TarEntry, what: "devmajor" | "devminor", name: string): number {
  const value = entry[what];
  if (value === undefined) return 0;
  if (entry.type !== "character-device" && entry.type !== "block-device") {
    throw new TypeError(`Tar entry "${name}": only character and block devices have a ${what}`);
  }
  return checkInteger(value, what, name, MAX_DEVICE_NUMBER);
}

/** Validates an entry and encodes its header blocks. */
function prepareEntry(entry: TarEntry): PreparedEntry {
  if (entry === null || typeof entry !== "object") {
    throw new TypeError("A tar entry must be an object");
  }
  const rawName = checkString(entry.name, "name", String(entry.name));
  if (rawName === "") throw new TypeError("A tar entry needs a non-empty name");
  const type = entry.type ?? "file";
  if (!Object.hasOwn(TYPEFLAGS, type)) {
    throw new TypeError(`Tar entry "${rawName}": unknown type ${JSON.stringify(type)}`);
  }
  const name = type === "directory" && !rawName.endsWith("/") ? `${rawName}/` : rawName;

  let body: Uint8Array | ReadableStream<Uint8Array> | null = null;
  let size = 0;
  const given = entry.body;
  if (given !== undefined) {
    if (type !== "file") throw new TypeError(`Tar entry "${name}": only files have a body`);
    if (typeof given === "string") body = encoder.encode(given);
    else if (given instanceof Uint8Array) body = given;
    else if (given instanceof ReadableStream) body = given;
    else {throw new TypeError(
        `Tar entry "${name}": body must be a string, a Uint8Array or a ReadableStream`,
      );}
  }
  if (body instanceof ReadableStream) {
    if (entry.size === undefined) {
      throw new TypeError(`Tar entry "${name}": size is required with a stream body`);
    }
    size = checkInteger(entry.size, "size", name, Number.MAX_SAFE_INTEGER);
  } else {
    const length = body?.length ?? 0;
    if (
      entry.size !== undefined &&
      checkInteger(entry.size, "size", name, Number.MAX_SAFE_INTEGER) !== length
    ) {
      throw new RangeError(
        `Tar entry "${name}": size is ${entry.size} but the body has ${length} bytes`,
      );
    }
    size = length;
    if (body?.length === 0) body = null;
  }

  let linkname = "";
  if (type === "symlink" || type === "hardlink") {
    linkname = checkString(entry.linkname, "linkname", name);
    if (linkname === "") throw new TypeError(`Tar entry "${name}": a ${type} needs a linkname`);
  } else if (entry.linkname !== undefined && entry.linkname !== "") {
    throw new TypeError(`Tar entry "${name}": only symlinks and hard links have a linkname`);
  }

  const defaultMode = type === "directory" ? 0o755 : type === "symlink" ? 0o777 : 0o644;
  const mode = entry.mode === undefined
    ? defaultMode
    : checkInteger(entry.mode, "mode", name, 0o7777777);
  const uid = entry.uid === undefined
    ? 0
    : checkInteger(entry.uid, "uid", name, Number.MAX_SAFE_INTEGER);
  const gid = entry.gid === undefined
    ? 0
    : checkInteger(entry.gid, "gid", name, Number.MAX_SAFE_INTEGER);
  let mtime: number;
  if (entry.mtime === undefined) mtime = Math.floor(Date.now() / 1000);
  else if (entry.mtime instanceof Date) mtime = Math.floor(entry.mtime.getTime() / 1000);
  else if (typeof entry.mtime === "number" && Number.isFinite(entry.mtime)) {
    mtime = Math.floor(entry.mtime);
  } else {throw new RangeError(
      `Tar entry "${name}": mtime must be a Date or a finite number of seconds`,
    );}
  if (!Number.isSafeInteger(mtime)) {
    throw new RangeError(`Tar entry "${name}": mtime is out of range`);
  }
  const uname = entry.uname === undefined ? "" : checkString(entry.uname, "uname", name);
  const gname = entry.gname === undefined ? "" : checkString(entry.gname, "gname", name);
  const devmajor = deviceNumber(entry, "devmajor", name);
  const devminor = deviceNumber(entry, "devminor", name);

  const records: string[] = [];
  let nameBytes: Uint8Array = encoder.encode(name);
  if (nameBytes.length > 100 || !isAscii(nameBytes)) {
    records.push(paxRecord("path", name));
    nameBytes = asciiStandIn(name, 100);
  }
  let linkBytes: Uint8Array = encoder.encode(linkname);
  if (linkBytes.length > 100 || !isAscii(linkBytes)) {
    records.push(paxRecord("linkpath", linkname));
    linkBytes = asciiStandIn(linkname, 100);
  }
  if (!fitsOctal(size, 12)) records.push(paxRecord("size", String(size)));
  if (!fitsOctal(mtime, 12)) records.push(paxRecord("mtime", String(mtime)));
  if (!fitsOctal(uid, 8)) records.push(paxRecord("uid", String(uid)));
  if (!fitsOctal(gid, 8)) records.push(paxRecord("gid", String(gid)));
  let unameBytes: Uint8Array = encoder.encode(uname);
  if (unameBytes.length > 32 || !isAscii(unameBytes)) {
    records.push(paxRecord("uname", uname));
    unameBytes = asciiStandIn(uname, 32);
  }
  let gnameBytes: Uint8Array = encoder.encode(gname);
  if (gnameBytes.length > 32 || !isAscii(gnameBytes)) {
    records.push(paxRecord("gname", gname));
    gnameBytes = asciiStandIn(gname, 32);
  }

  const fields: HeaderFields = {
    name: nameBytes,
    mode,
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAGS[type],
    linkname: linkBytes,
    uname: unameBytes,
    gname: gnameBytes,
    devmajor,
    devminor,
  };
  const inline = body instanceof Uint8Array && body.length + padding(body.length) <= COALESCE_SIZE
    ? body
    : null;
  let paxBytes = EMPTY;
  if (records.length > 0) paxBytes = encoder.encode(records.join(""));
  const paxLength = records.length > 0 ? BLOCK + paxBytes.length + padding(paxBytes.length) : 0;
  const inlineLength = inline ? inline.length + padding(inline.length) : 0;
  const head = new Uint8Array(paxLength + BLOCK + inlineLength);
  if (records.length > 0) {
    const base = name.replace(/\/+$/, "").split("/").pop() || "entry";
    writeHeader(head.subarray(0, BLOCK), {
      name: asciiStandIn(`PaxHeaders.0/${base}`, 100),
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: paxBytes.length,
      mtime: fitsOctal(mtime, 12) ? mtime : 0,
      typeflag: "x",
      linkname: EMPTY,
      uname: EMPTY,
      gname: EMPTY,
    });
    head.set(paxBytes, BLOCK);
  }
  writeHeader(head.subarray(paxLength, paxLength + BLOCK), fields);
  if (inline) {
    head.set(inline, paxLength + BLOCK);
    return { head, body: null, size: 0 };
  }
  return { head, body, size };
}

/**
 * Writes a tar archive (POSIX ustar, with PAX extended headers for long or
 * non-ASCII names and link targets, sizes of 8 GiB and more, and other
 * values that do not fit a ustar field). Besides files, directories and
 * links it writes FIFOs and character and block devices (header only,
 * with the devices' major and minor numbers).
 *
 * The archive is produced as it is read: the next entry is taken from
 * `entries`, and the next chunk of a stream body is read, only when the
 * consumer asks for more bytes. Each entry is its header blocks, its body,
 * zero padding to a 512-byte boundary; two zero blocks end the archive.
 * Cancelling the result cancels the current body stream and closes the
 * entries iterator.
 *
 * @param entries The entries, in archive order (an array, a generator or an
 *   async generator).
 * @returns The archive bytes.
 * @throws {TypeError} Through the stream: an entry without a name, with an
 *   unknown type, a body on a non-file, a stream body without `size`, a
 *   symlink or hard link without `linkname`, a `devmajor` or `devminor`
 *   on an entry that is not a device, or a NUL byte in a string.
 * @throws {RangeError} Through the stream: a negative or non-integer size,
 *   mode, uid, gid or device number, or a device number over 2097151; a
 *   size that does not match a bytes body (a FIFO's or a device's is 0);
 *   a stream body that yields more or fewer bytes than `size`.
 *
 * @example Write an archive with a directory and a file
 * ```ts
 * import { tarStream } from "./tar.ts";
 *
 * const archive = tarStream([
 *   { name: "app", type: "directory" },
 *   { name: "app/hello.txt", body: "hello\n", mtime: 0 },
 * ]);
 * const bytes = new Uint8Array(await new Response(archive).arrayBuffer());
 * console.log(bytes.length); // 2560: two headers, one data block, two end blocks
 * ```
 */
export function tarStream(
  entries: AsyncIterable<TarEntry> | Iterable<TarEntry>,
): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<TarEntry> | Iterator<TarEntry> | null = null;
  let current: {
    reader: ReadableStreamDefaultReader<Uint8Array>;
    name: string;
    size: number;
    seen: number;
  } | null = null;
  let finished = false;

  const cleanup = async (reason: unknown): Promise<void> => {
    const body = current;
    current = null;
    if (body) await body.reader.cancel(reason).catch(() => {});
    const open = iterator;
    iterator = null;
    if (open && !finished && typeof open.return === "function") {
      try {
        await open.return();
      } catch {
        // The iterator's own cleanup failed; the archive is already failing or cancelled.
      }
    }
  };

  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        while (true) {
          const body = current;
          if (body) {
            const { done, value } = await body.reader.read();
            if (done) {
              current = null;
              if (body.seen !== body.size) {
                throw new RangeError(
                  `Tar entry "${body.name}": body stream ended after ${body.seen} of ${body.size} bytes`,
                );
              }
              const pad = padding(body.size);
              if (pad > 0) {
                controller.enqueue(new Uint8Array(pad));
                return;
              }
              continue;
            }
            if (!(value instanceof Uint8Array)) {
              throw new TypeError(
                `Tar entry "${body.name}": body stream yielded a non-Uint8Array chunk`,
              );
            }
            if (value.length === 0) continue;
            body.seen += value.length;
            if (body.seen > body.size) {
              throw new RangeError(
                `Tar entry "${body.name}": body stream yielded more than its size of ${body.size} bytes`,
              );
            }
            controller.enqueue(value);
            return;
          }
          iterator ??= Symbol.asyncIterator in entries
            ? entries[Symbol.asyncIterator]()
            : (entries as Iterable<TarEntry>)[Symbol.iterator]();
          const next = await iterator.next();
          if (next.done) {
            finished = true;
            controller.enqueue(new Uint8Array(2 * BLOCK));
            controller.close();
            return;
          }
          const prepared = prepareEntry(next.value);
          controller.enqueue(prepared.head);
          if (prepared.body instanceof ReadableStream) {
            current = {
              reader: prepared.body.getReader(),
              name: next.value.name,
              size: prepared.size,
              seen: 0,
            };
          } else if (prepared.body) {
            controller.enqueue(prepared.body);
            const pad = padding(prepared.size);
            if (pad > 0) controller.enqueue(new Uint8Array(pad));
          }
          return;
        }
      } catch (error) {
        await cleanup(error);
        throw error;
      }
    },
    cancel: (reason) => cleanup(reason),
  }, { highWaterMark: 0 });
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);
const DEVICES = new Set(["3", "4"]);

function entryType(typeflag: string, name: string): TarReaderEntry["type"] {
  switch (typeflag) {
    case "0":
    case "7":
      return "file";
    case "\0":
      return name.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    default:
      return "other";
  }
}

interface BodyState {
  name: string;
  remaining: number;
  padding: number;
  controller: ReadableStreamDefaultController<Uint8Array> | null;
  inflight: Promise<unknown> | null;
  done: boolean;
  detached: boolean;
}

/**
 * Reads a tar archive (POSIX ustar, PAX `x`/`g` extended headers, GNU `L`/`K`
 * long names, old V7 headers, GNU base-256 numbers) into entries.
 *
 * Reading is pull-based: the next header is read when the consumer asks
 * for the next entry, and the body's bytes when the consumer reads `body`.
 * A body that is not read (or only partly) before the next entry is
 * requested is skipped. The archive ends at two zero blocks, or at the end
 * of input right after a complete entry (Docker's export sometimes omits
 * the zero blocks). After the zero blocks the rest of the input (record
 * padding) is read and dropped, up to 1 MiB; past that it is cancelled.
 * Cancelling the result, or an error, cancels the input.
 *
 * @param stream The archive bytes.
 * @param options Limits on the number of entries and on extended-header size.
 * @returns The entries; each `body` streams that entry's data.
 * @throws {RangeError} At once, when an option is not a positive integer.
 * @throws {DockerProtocolError} Through the stream: `INVALID_TAR` for a
 *   header with a bad checksum or malformed field or PAX record,
 *   `PREMATURE_CLOSE` when the input ends inside a header or an entry's
 *   data (also through `body`), `TAR_LIMIT_EXCEEDED` past `maxEntries` or
 *   `maxHeaderSize`.
 *
 * @example List an archive
 * ```ts
 * import { readTar, tarStream } from "./tar.ts";
 *
 * const archive = tarStream([{ name: "a.txt", body: "hi" }, { name: "docs", type: "directory" }]);
 * for await (const entry of readTar(archive)) {
 *   const text = await new Response(entry.body).text();
 *   console.log(entry.type, entry.name, JSON.stringify(text)); // file a.txt "hi", then directory docs/ ""
 * }
 * ```
 */
export function readTar(
  stream: ReadableStream<Uint8Array>,
  options: ReadTarOptions = {},
): ReadableStream<TarReaderEntry> {
  const maxEntries = options.maxEntries ?? 1_000_000;
  const maxHeaderSize = options.maxHeaderSize ?? 1_048_576;
  for (
    const [key, value] of [["maxEntries", maxEntries], ["maxHeaderSize", maxHeaderSize]] as const
  ) {
    if (!(value === Infinity || (Number.isSafeInteger(value) && value > 0))) {
      throw new RangeError(`readTar: ${key} must be a positive integer (got ${value})`);
    }
  }
  const source = new ByteSource(stream);
  const global = new Map<string, string>();
  let globalSize = 0;
  let current: BodyState | null = null;
  let count = 0;

  /** Detaches the previous entry's body and skips what is left of it. */
  const finishBody = async (body: BodyState): Promise<void> => {
    body.detached = true;
    if (body.inflight) await body.inflight.catch(() => {});
    if (!body.done) {
      body.done = true;
      body.controller?.error(
        new DockerError(
          `Tar entry "${body.name}": its body was skipped because the next entry was read first`,
        ),
      );
    }
    const skip = body.remaining + body.padding;
    body.remaining = 0;
    if (skip > 0 && (await source.skip(skip)) < skip) {
      throw premature(`Tar archive ended inside the data of entry "${body.name}"`);
    }
  };

  const nextEntry = async (): Promise<TarReaderEntry | null> => {
    if (current) {
      const body = current;
      current = null;
      await finishBody(body);
    }
    const local = new Map<string, string>();
    let longName: string | null = null;
    let longLink: string | null = null;
    let metaSize = 0; // bytes of x, L and K headers for this entry
    while (true) {
      const at = source.offset;
      const block = await source.readExact(BLOCK);
      const pendingMeta = local.size > 0 || longName !== null || longLink !== null;
      if (block === null) {
        if (pendingMeta) {
          throw premature(`Tar archive ended after an extended header, before its entry`);
        }
        return null;
      }
      if (block.length < BLOCK) {
        throw (at === 0 ? notTar(block) : null) ??
          premature(`Tar archive ended inside a header at byte ${at}`);
      }
      if (isZeroBlock(block)) {
        const second = await source.readExact(BLOCK);
        if (second !== null && !isZeroBlock(second)) {
          throw invalid(`Tar archive has a zero block at byte ${at} followed by a non-zero block`);
        }
        if (pendingMeta) {
          throw invalid(`Tar archive ended after an extended header, before its entry`);
        }
        if (second?.length === BLOCK) await source.drain(MAX_TRAILER);
        return null;
      }
      if (!checksumMatches(block, at)) {
        throw (at === 0 ? notTar(block) : null) ??
          invalid(`Tar header at byte ${at} has a bad checksum`);
      }
      const typeflag = String.fromCharCode(block[156]!);
      const headerSize = readNumber(block, 124, 12, "size", at);
      if (headerSize < 0) throw invalid(`Tar header at byte ${at} has a negative size`);

      if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
        if (typeflag !== "g") metaSize += headerSize;
        if (headerSize > maxHeaderSize || metaSize > maxHeaderSize) {
          throw new DockerProtocolError(
            "TAR_LIMIT_EXCEEDED",
            `Tar extended header at byte ${at} brings the entry's extended headers to ${
              typeflag === "g" ? headerSize : metaSize
            } bytes, over maxHeaderSize (${maxHeaderSize})`,
          );
        }
        const data = headerSize === 0 ? EMPTY : await source.readExact(headerSize);
        if (data === null || data.length < headerSize) {
          throw premature(`Tar archive ended inside the extended header at byte ${at}`);
        }
        const pad = padding(headerSize);
        if ((await source.skip(pad)) < pad) {
          throw premature(`Tar archive ended inside the extended header at byte ${at}`);
        }
        if (typeflag === "x") {
          parsePax(data, local, at);
        } else if (typeflag === "g") {
          const records = new Map<string, string>();
          parsePax(data, records, at);
          for (const [key, value] of records) {
            const old = global.get(key);
            if (old !== undefined) globalSize -= key.length + old.length;
            if (value === "") {
              global.delete(key);
            } else {
              global.set(key, value);
              globalSize += key.length + value.length;
            }
          }
          if (globalSize > maxHeaderSize) {
            throw new DockerProtocolError(
              "TAR_LIMIT_EXCEEDED",
              `Tar global PAX attributes exceed maxHeaderSize (${maxHeaderSize}) at byte ${at}`,
            );
          }
        } else {
          const end = data.indexOf(0);
          const text = decoder.decode(end === -1 ? data : data.subarray(0, end));
          if (typeflag === "L") longName = text;
          else longLink = text;
        }
        continue;
      }

      count++;
      if (count > maxEntries) {
        throw new DockerProtocolError(
          "TAR_LIMIT_EXCEEDED",
          `Tar archive has more than maxEntries (${maxEntries}) entries`,
        );
      }
      const pax = (key: string): string | undefined => {
        const value = local.get(key);
        if (value !== undefined) return value === "" ? undefined : value;
        return global.get(key);
      };
      const magic = readString(block, 257, 6);
      const version = readString(block, 263, 2);
      let name = readString(block, 0, 100);
      if (magic === "ustar" && version === "00") {
        const prefix = readString(block, 345, 155);
        if (prefix !== "") name = `${prefix}/${name}`;
      }
      name = pax("path") ?? longName ?? name;
      const linkname = pax("linkpath") ?? longLink ?? readString(block, 157, 100);
      const paxSize = pax("size");
      const declared = paxSize === undefined ? headerSize : paxNumber(paxSize, "size", at, false);
      const paxMtime = pax("mtime");
      const paxUid = pax("uid");
      const paxGid = pax("gid");
      const size = HEADER_ONLY.has(typeflag) ? 0 : declared;
      const state: BodyState = {
        name,
        remaining: size,
        padding: padding(size),
        controller: null,
        inflight: null,
        done: size === 0,
        detached: false,
      };
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => {
          state.controller = controller;
          if (size === 0) controller.close();
        },
        pull: async (controller) => {
          if (state.detached) return;
          // Counted as soon as the read settles: `finishBody`, which awaits
          // `inflight` when the next entry is asked for meanwhile, must see
          // the new count, or it skips too much and loses its place.
          const read = source.readSome(state.remaining).then((chunk) => {
            if (chunk !== null) state.remaining -= chunk.length;
            return chunk;
          });
          state.inflight = read;
          const chunk = await read.finally(() => state.inflight = null);
          if (state.detached) return; // `finishBody` has ended this body
          if (chunk === null) {
            state.done = true;
            throw premature(
              `Tar archive ended inside the data of entry "${name}" (${state.remaining} bytes missing)`,
            );
          }
          controller.enqueue(chunk);
          if (state.remaining === 0) {
            state.done = true;
            controller.close();
          }
        },
        cancel: () => {
          state.done = true;
        },
      }, { highWaterMark: 0 });
      current = state;
      return {
        name,
        type: entryType(typeflag, name),
        typeflag,
        size,
        mode: readNumber(block, 100, 8, "mode", at),
        mtime: paxMtime === undefined
          ? readNumber(block, 136, 12, "mtime", at)
          : paxNumber(paxMtime, "mtime", at, true),
        uid: paxUid === undefined
          ? readNumber(block, 108, 8, "uid", at)
          : paxNumber(paxUid, "uid", at, false),
        gid: paxGid === undefined
          ? readNumber(block, 116, 8, "gid", at)
          : paxNumber(paxGid, "gid", at, false),
        uname: pax("uname") ?? readString(block, 265, 32),
        gname: pax("gname") ?? readString(block, 297, 32),
        linkname,
        devmajor: DEVICES.has(typeflag) ? readNumber(block, 329, 8, "devmajor", at) : 0,
        devminor: DEVICES.has(typeflag) ? readNumber(block, 337, 8, "devminor", at) : 0,
        body,
      };
    }
  };

  const fail = async (error: unknown): Promise<void> => {
    const body = current;
    current = null;
    if (body && !body.done) {
      body.done = true;
      body.detached = true;
      body.controller?.error(error);
    }
    await source.cancel(error);
  };

  return new ReadableStream<TarReaderEntry>({
    pull: async (controller) => {
      let entry: TarReaderEntry | null;
      try {
        entry = await nextEntry();
      } catch (error) {
        await fail(error);
        throw error;
      }
      if (entry) controller.enqueue(entry);
      else controller.close();
    },
    cancel: (reason) => fail(reason ?? new DockerError("Tar archive reading was cancelled")),
  }, { highWaterMark: 0 });
}
