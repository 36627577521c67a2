/**
 * The tar reader behind {@linkcode readTar} (re-exported by `tar.ts`):
 * header parsing with PAX, GNU and V7 variants, and the pull-based entry
 * and body streams.
 *
 * @module
 */

import { DockerError, DockerProtocolError } from "../errors.ts";
import {
  BLOCK,
  ByteSource,
  checksumMatches,
  EMPTY,
  invalid,
  isZeroBlock,
  notTar,
  padding,
  parsePax,
  paxNumber,
  premature,
  readNumber,
  readString,
} from "./_tar_format.ts";
import type { ReadTarOptions, TarReaderEntry } from "./tar.ts";

/** Bytes read after the end-of-archive blocks before the input is cancelled instead. */
const MAX_TRAILER = 1024 * 1024;
const decoder = new TextDecoder();

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
