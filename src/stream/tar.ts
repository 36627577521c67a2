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

export { tarStream } from "./_tar_write.ts";
export { readTar } from "./_tar_read.ts";

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
