/**
 * The tar writer behind {@linkcode tarStream} (re-exported by `tar.ts`):
 * entry validation, ustar and PAX header encoding, and the pull-based
 * stream that puts headers, bodies and padding together.
 *
 * @module
 */

import {
  asciiStandIn,
  BLOCK,
  EMPTY,
  fitsOctal,
  type HeaderFields,
  isAscii,
  padding,
  paxRecord,
  writeHeader,
} from "./_tar_format.ts";
import type { TarEntry, TarEntryType } from "./tar.ts";

/** Entries whose header and in-memory body fit this size are emitted as one chunk. */
const COALESCE_SIZE = 64 * 1024;
const encoder = new TextEncoder();

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
