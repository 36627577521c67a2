/**
 * The sending side of fsutil's DiffCopy protocol: how a BuildKit build
 * reads a directory of the client's (the context, the Dockerfile's
 * directory) through the session's `moby.filesync.v1.FileSync/DiffCopy`.
 *
 * Each message is an `fsutil.types.Packet`. The exchange:
 *
 * 1. berth sends one STAT packet per entry, depth-first in name order
 *    (each directory before what it holds), then an empty STAT;
 * 2. the engine compares them with its copy from the last transfer of the
 *    same directory and asks (REQ, by the entry's index among the STATs)
 *    for the regular files that differ; berth answers each with DATA
 *    packets and an empty DATA that ends the file (FIFOs and devices are
 *    made from their STAT alone: never asked for, never opened);
 * 3. the engine sends FIN once it has all it asked for; berth answers FIN
 *    and the call ends. ERR carries a failure's message.
 *
 * So a second build of a context that barely changed sends its stats and
 * the changed files only.
 *
 * @module
 */

import { cleanPath, DockerignoreMatcher } from "./dockerignore.ts";
import { deviceNumbers, hardLinkTarget, isSpecialFile, listDirectory } from "./context.ts";
import { grpcFrame } from "./_grpc.ts";
import { fields, Reader, WIRE_BYTES, WIRE_VARINT, Writer } from "./_protobuf.ts";

/** A directory the session lends to the build. */
export interface SyncedDirectory {
  /** Its path, symlinks resolved. */
  root: string;
  /**
   * berth's own exclusions (the context's `.dockerignore` or `excludes`;
   * `null` when they exclude nothing). When set, the engine's
   * `exclude-patterns` are ignored unless it sends `override-excludes:
   * true`, as the docker CLI does; when left out, the engine's apply.
   */
  excludes?: DockerignoreMatcher | null | undefined;
}

/** What the engine asked for, from the call's metadata. */
export interface SyncRequest {
  /** `include-patterns`: only these paths (Go `filepath.Match` globs) and their parents. */
  includes?: string[] | undefined;
  /** `exclude-patterns` (`.dockerignore` syntax). */
  excludes?: string[] | undefined;
  /** `followpaths`: paths to include with the targets of symlinks on the way. */
  followPaths?: string[] | undefined;
  /** `override-excludes`: the engine's excludes win over the client's. */
  overrideExcludes?: boolean | undefined;
}

/** What a transfer sent. */
export interface SyncSummary {
  /** STAT packets (entries). */
  entries: number;
  /** Files the engine asked for. */
  files: number;
  /** Bytes of file data sent. */
  bytes: number;
}

/** A transfer that cannot go on; its message reaches the engine. */
export class SyncError extends Error {
  /** Always `"SyncError"`. */
  override name = "SyncError";
}

const enum PacketType {
  Stat = 0,
  Req = 1,
  Data = 2,
  Fin = 3,
  Err = 4,
}

/** Bytes of file data per DATA packet (fsutil's copy buffer). */
const CHUNK = 32 * 1024;

// Go's os.FileMode bits, which the STAT's mode carries (fsutil sends
// `uint32(fi.Mode())`, so type bits are Go's, not the unix S_IF* ones).
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 1 << 27;
const MODE_DEVICE = 1 << 26;
const MODE_NAMED_PIPE = 1 << 25;
const MODE_SETUID = 1 << 23;
const MODE_SETGID = 1 << 22;
const MODE_CHAR_DEVICE = 1 << 21;
const MODE_STICKY = 1 << 20;

/** One entry's STAT, and for a regular file with data, where to read it. */
interface Entry {
  stat: Uint8Array;
  /** The file to send when asked (regular files that are not hard links). */
  file?: WalkedFile;
  /**
   * Whether the engine may ask for it (any regular file, hard links too;
   * fsutil's `fileCanRequestData`: no type bit set).
   */
  requestable: boolean;
}

/** A regular file as the walk saw it. */
interface WalkedFile {
  path: string;
  size: number;
  /** `dev:ino`, to check that the file opened later is the one listed. */
  identity: string;
}

/** A compiled Go glob (`filepath.Match`), one regexp per path segment. */
type Glob = RegExp[];

/** Where the walk is, for include patterns. */
interface Walk {
  root: string;
  includes: Glob[] | undefined;
  /** The last directory an include pattern matched whole: all below it is in. */
  includedDir: string;
  excludes: DockerignoreMatcher | null | undefined;
  /** `dev:ino` of files sent, for hard links. */
  inodes: Map<string, string>;
  /**
   * Directories sent only once something under them is: those an include
   * pattern matched as a parent, and excluded ones walked for an exception.
   */
  pending: Entry[];
  /** Set once the call is over: the walk stops at its next entry. */
  stopped: boolean;
}

/**
 * Serves one DiffCopy call: sends `directory` as `request` asks, answers
 * the engine's requests for files, and settles once it has everything.
 *
 * @param directory The directory.
 * @param request The engine's patterns.
 * @param messages The engine's packets (without their gRPC prefix).
 * @param write Sends one framed message (writes come one at a time, in order).
 * @param stop Ends `messages` early (the walk failed).
 * @returns What was sent.
 * @throws {SyncError} When the engine reports a failure, asks for a file
 *   it may not, or ends the call before FIN.
 * @throws What reading the directory or a file failed with.
 */
export async function sendDirectory(
  directory: SyncedDirectory,
  request: SyncRequest,
  messages: AsyncIterable<Uint8Array>,
  write: (framed: Uint8Array) => Promise<void>,
  stop: (reason: unknown) => void,
): Promise<SyncSummary> {
  const summary: SyncSummary = { entries: 0, files: 0, bytes: 0 };
  let queue = Promise.resolve();
  const send = (framed: Uint8Array) => (queue = queue.then(() => write(framed)));
  const files = new Map<number, WalkedFile | undefined>();
  const walk = await startWalk(directory, request);
  let walkError: unknown;
  const walking = (async () => {
    for await (const entry of walkEntries(walk, "", undefined)) {
      if (walk.stopped) return;
      if (entry.requestable) files.set(summary.entries, entry.file);
      summary.entries++;
      await send(grpcFrame(new Writer().bytes(2, entry.stat).finish()));
    }
    await send(grpcFrame(new Uint8Array(0))); // The empty STAT: no more entries.
  })().catch((error) => {
    if (walk.stopped) return;
    walkError = error;
    stop(error);
  });
  try {
    return await answer(messages, files, send, summary, async () => {
      await walking;
      if (walkError !== undefined) throw walkError;
    });
  } catch (error) {
    // A failed walk is the better reason than the end it caused.
    throw walkError ?? error;
  } finally {
    walk.stopped = true;
  }
}

/**
 * Answers the engine's packets until its FIN.
 *
 * @param walked Settles once every STAT is sent; rejects when the walk failed.
 */
async function answer(
  messages: AsyncIterable<Uint8Array>,
  files: Map<number, WalkedFile | undefined>,
  send: (framed: Uint8Array) => Promise<void>,
  summary: SyncSummary,
  walked: () => Promise<void>,
): Promise<SyncSummary> {
  for await (const message of messages) {
    const packet = decodePacket(message);
    if (packet.type === PacketType.Req) {
      if (!files.has(packet.id)) throw new SyncError(`invalid file request ${packet.id}`);
      const file = files.get(packet.id);
      files.delete(packet.id);
      summary.files++;
      if (file) summary.bytes += await sendFile(packet.id, file, send);
      await send(dataPacket(packet.id, 0).seal(0)); // The empty DATA: end of file.
    } else if (packet.type === PacketType.Fin) {
      await walked();
      await send(grpcFrame(new Writer().varint(1, PacketType.Fin).finish()));
      return summary;
    } else if (packet.type === PacketType.Err) {
      throw new SyncError(`the engine failed to receive the files: ${packet.text}`);
    } else {
      throw new SyncError(`unexpected packet of type ${packet.type} from the receiver`);
    }
  }
  await walked();
  throw new SyncError("the engine ended the transfer before it finished");
}

/** The fields of a packet the sender reads. */
function decodePacket(message: Uint8Array): { type: number; id: number; text: string } {
  const packet = { type: 0, id: 0, text: "" };
  try {
    fields(
      new Reader(message),
      { 1: WIRE_VARINT, 3: WIRE_VARINT, 4: WIRE_BYTES },
      (field, part) => {
        if (field === 1) packet.type = part.varint();
        else if (field === 3) packet.id = part.varint();
        else packet.text = part.string();
      },
    );
  } catch (error) {
    throw new SyncError(`malformed packet: ${error instanceof Error ? error.message : error}`);
  }
  return packet;
}

/** Where a DATA packet's file bytes start in its buffer (room for the prefix and fields). */
const DATA_OFFSET = 5 + 2 + 6 + 1 + 3;

/**
 * A framed DATA packet whose file bytes are read straight into it: `data`
 * is the region to fill, and `seal(n)` writes the prefix and fields in
 * front of the `n` bytes read, returning the message.
 */
function dataPacket(id: number, room: number): {
  data: Uint8Array;
  seal: (n: number) => Uint8Array;
} {
  const buffer = new Uint8Array(DATA_OFFSET + room);
  const seal = (n: number): Uint8Array => {
    const fieldBytes = [...new Writer().varint(1, PacketType.Data).varint(3, id).finish()];
    if (n > 0) fieldBytes.push(4 * 8 + WIRE_BYTES, ...varintBytes(n));
    const start = DATA_OFFSET - fieldBytes.length - 5;
    new DataView(buffer.buffer).setUint32(start + 1, fieldBytes.length + n);
    buffer.set(fieldBytes, start + 5);
    return buffer.subarray(start, DATA_OFFSET + n);
  };
  return { data: buffer.subarray(DATA_OFFSET), seal };
}

/** The failure of a file that is no longer the one the walk listed. */
function replacedError(file: WalkedFile): SyncError {
  return new SyncError(`${JSON.stringify(file.path)} was replaced while it was sent`);
}

/** A varint's bytes. */
function varintBytes(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value % 0x80) | 0x80);
  out.push(value);
  return out;
}

/**
 * Sends a file's bytes, at most its size when it was walked (a file that
 * grew since is cut there). Only the file the walk listed is sent: one
 * replaced since (by a symlink to somewhere else, say) fails the transfer.
 *
 * @returns Bytes sent.
 * @throws {SyncError} When it shrank or was replaced.
 */
async function sendFile(
  id: number,
  file: WalkedFile,
  send: (framed: Uint8Array) => Promise<void>,
): Promise<number> {
  if (file.size === 0) return 0;
  const replaced = (info: Deno.FileInfo) =>
    !info.isFile || `${info.dev}:${info.ino}` !== file.identity;
  // Looked at before the open too: opening a FIFO put in its place would block.
  if (replaced(await Deno.lstat(file.path))) throw replacedError(file);
  const handle = await Deno.open(file.path);
  let sent = 0;
  try {
    if (replaced(await handle.stat())) throw replacedError(file);
    while (sent < file.size) {
      const packet = dataPacket(id, Math.min(CHUNK, file.size - sent));
      const n = await handle.read(packet.data);
      if (n === null) {
        throw new SyncError(
          `${JSON.stringify(file.path)} shrank while it was sent (${sent} of ${file.size} bytes)`,
        );
      }
      sent += n;
      await send(packet.seal(n));
    }
  } finally {
    handle.close();
  }
  return sent;
}

/** Compiles the request's include patterns and follow paths. */
async function startWalk(directory: SyncedDirectory, request: SyncRequest): Promise<Walk> {
  // An empty list filters nothing, as with fsutil.
  let includes = request.includes?.length ? request.includes.map(cleanPath) : undefined;
  if (request.followPaths?.length) {
    includes = [
      ...new Set([...includes ?? [], ...await followLinks(directory.root, request.followPaths)]),
    ];
  }
  let excludes = directory.excludes;
  if (excludes === undefined || request.overrideExcludes) {
    excludes = request.excludes?.length ? new DockerignoreMatcher(request.excludes) : undefined;
  }
  return {
    root: directory.root,
    includes: includes?.map(compileGlob),
    includedDir: "",
    excludes,
    inodes: new Map(),
    pending: [],
    stopped: false,
  };
}

/**
 * The paths `paths` name, plus, for each symlink met on the way to one,
 * the path it points to (relative to the root, as fsutil resolves them:
 * an absolute target counts from the root).
 */
async function followLinks(root: string, paths: readonly string[]): Promise<string[]> {
  const resolved = new Set<string>();
  const visit = async (path: string, depth: number): Promise<void> => {
    const parts = cleanPath(path).split("/").filter((part) => part !== "." && part !== "");
    if (parts[0] === ".." || depth > 40) return; // Outside the root, or a loop.
    let current = "";
    for (let i = 0; i < parts.length; i++) {
      current = current === "" ? parts[i]! : `${current}/${parts[i]}`;
      const rest = parts.slice(i + 1).join("/");
      let target: string | undefined;
      try {
        const info = await Deno.lstat(`${root}/${current}`);
        if (info.isSymlink) target = await Deno.readLink(`${root}/${current}`);
      } catch {
        // Missing: the path is included as it is.
      }
      if (target === undefined) {
        if (rest === "") resolved.add(current);
        continue;
      }
      if (resolved.has(current)) return;
      resolved.add(current);
      const parent = current.includes("/") ? current.slice(0, current.lastIndexOf("/")) : "";
      const base = target.startsWith("/") || parent === "" ? target : `${parent}/${target}`;
      return visit(rest === "" ? base : `${base}/${rest}`, depth + 1);
    }
  };
  for (const path of paths) await visit(path, 0);
  return [...resolved];
}

/** A Go `filepath.Match` pattern as one regexp per segment (never matches when malformed). */
function compileGlob(pattern: string): Glob {
  return pattern.split("/").map((segment) => {
    try {
      return new RegExp(`^${globSource(segment)}$`, "u");
    } catch {
      return /(?!)/;
    }
  });
}

/**
 * The regexp source of one segment of a Go glob: `*`, `?`, `[…]` classes
 * (`^` negates), backslash escapes; every literal as a `\u{…}` escape.
 *
 * @throws {SyntaxError} For a trailing backslash or an unclosed or empty class.
 */
function globSource(segment: string): string {
  const chars = Array.from(segment);
  const hex = (char: string) => `\\u{${char.codePointAt(0)!.toString(16)}}`;
  let source = "";
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else if (char === "\\") {
      if (i + 1 >= chars.length) throw new SyntaxError("trailing backslash");
      source += hex(chars[++i]!);
    } else if (char === "[") {
      let j = i + 1;
      let cls = "[";
      if (chars[j] === "^") {
        cls += "^";
        j++;
      }
      for (; j < chars.length && chars[j] !== "]"; j++) {
        const c = chars[j]!;
        if (c === "-") cls += "-";
        else if (c === "\\" && j + 1 < chars.length) cls += hex(chars[++j]!);
        else cls += hex(c);
      }
      if (j >= chars.length || cls === "[" || cls === "[^") {
        throw new SyntaxError("bad character class");
      }
      source += `${cls}]`;
      i = j;
    } else source += hex(char);
  }
  return source;
}

/** fsutil's include test: whether `name` matches a pattern whole, or only as a parent of one. */
function matchIncludes(globs: Glob[], name: string): { matched: boolean; partial: boolean } {
  const names = name.split("/");
  let matched = false;
  for (const glob of globs) {
    if (glob.length < names.length) continue;
    if (names.every((part, i) => glob[i]!.test(part))) {
      matched = true;
      if (glob.length === names.length) return { matched, partial: false };
    }
  }
  return { matched, partial: true };
}

/**
 * Go's os.FileMode of an entry (type bits and permissions), as Go's
 * `os.Lstat` makes it: a FIFO is ModeNamedPipe, a block device ModeDevice,
 * a character device ModeDevice | ModeCharDevice.
 */
function goMode(info: Deno.FileInfo): number {
  const raw = info.mode ?? (info.isDirectory ? 0o755 : 0o644);
  let mode = raw & 0o777;
  if (raw & 0o4000) mode |= MODE_SETUID;
  if (raw & 0o2000) mode |= MODE_SETGID;
  if (raw & 0o1000) mode |= MODE_STICKY;
  if (info.isSymlink) mode |= MODE_SYMLINK;
  if (info.isFifo) mode |= MODE_NAMED_PIPE;
  if (info.isBlockDevice) mode |= MODE_DEVICE;
  if (info.isCharDevice) mode |= MODE_DEVICE | MODE_CHAR_DEVICE;
  return info.isDirectory ? mode + MODE_DIR : mode;
}

/**
 * An entry's STAT. Owners go as 0:0 (as the docker CLI sends a context),
 * times in nanoseconds (whole milliseconds: what Deno reads). A device
 * carries its major and minor numbers; a FIFO or a device has size 0 and
 * no data. Sockets are left out (`undefined`).
 */
async function entryOf(
  walk: Walk,
  path: string,
  name: string,
  info: Deno.FileInfo,
): Promise<Entry | undefined> {
  const special = isSpecialFile(info);
  if (!info.isFile && !info.isDirectory && !info.isSymlink && !special) return undefined;
  const stat = new Writer().bytes(1, name).varint(2, goMode(info));
  const entry: Entry = { stat: new Uint8Array(0), requestable: info.isFile };
  if (!info.isDirectory) {
    let linkname = "";
    let size = info.size;
    if (info.isSymlink) {
      linkname = await Deno.readLink(path);
    } else {
      const first = hardLinkTarget(walk.inodes, info, name);
      if (first !== undefined) {
        linkname = first; // A hard link to the first name: no data.
        size = 0;
      }
    }
    if (special) size = 0; // nothing to read, whatever lstat says
    stat.varint(5, size);
    if (info.isFile && linkname === "") {
      entry.file = { path, size, identity: `${info.dev}:${info.ino}` };
    }
    if (info.mtime) stat.int64(6, BigInt(info.mtime.getTime()) * 1_000_000n);
    stat.bytes(7, linkname);
    if (info.isCharDevice || info.isBlockDevice) {
      const { major, minor } = deviceNumbers(info);
      stat.varint(8, major).varint(9, minor);
    }
  } else if (info.mtime) {
    stat.int64(6, BigInt(info.mtime.getTime()) * 1_000_000n);
  }
  entry.stat = stat.finish();
  return entry;
}

/**
 * Walks one directory depth-first in name order (byte order, as Go sorts
 * and as the receiver checks), yielding what the include and exclude
 * patterns let through: fsutil's walk. A directory that is only on the way
 * (the parent of an include pattern's path, or excluded but walked for an
 * exception) is sent just before the first entry under it, or not at all.
 * FIFOs and devices are sent (STAT only), sockets left out, as in a tar
 * context. An entry that vanishes is skipped.
 */
async function* walkEntries(
  walk: Walk,
  relative: string,
  parent: readonly boolean[] | undefined,
): AsyncGenerator<Entry> {
  for await (const { name, path, info } of listDirectory(walk.root, relative)) {
    // Sent only if something under it is.
    let conditional = false;
    if (walk.includes !== undefined && !name.startsWith(`${walk.includedDir}/`)) {
      const { matched, partial } = matchIncludes(walk.includes, name);
      // A pattern's parent can only be a directory.
      if (!matched || (partial && !info.isDirectory)) continue;
      if (partial) conditional = true;
      else if (info.isDirectory) walk.includedDir = name;
    }
    const decision = walk.excludes?.match(name, parent);
    if (decision?.excluded) {
      if (!info.isDirectory || !walk.excludes!.mayIncludeUnder(name)) continue;
      conditional = true;
    }
    const entry = await entryOf(walk, path, name, info);
    if (entry === undefined) continue;
    if (conditional) {
      walk.pending.push(entry);
      yield* walkEntries(walk, name, decision?.state);
      // Still there: nothing under it was sent, so neither is it.
      if (walk.pending.at(-1) === entry) walk.pending.pop();
      continue;
    }
    // The directories on the way, first (the receiver checks parents come first).
    yield* walk.pending;
    walk.pending.length = 0;
    yield entry;
    if (info.isDirectory) yield* walkEntries(walk, name, decision?.state);
  }
}
