/**
 * Build contexts from a directory: the directory is walked and packed as a
 * tar stream while the engine reads it, honouring its `.dockerignore` the
 * way the docker CLI does (the classic builder's context; BuildKit reads a
 * directory through its session instead, `filesync.ts`, with the same
 * lister and patterns).
 *
 * Nothing is buffered: directories are listed one at a time, and a file is
 * opened only when the archive reaches it and read chunk by chunk as the
 * request body is sent. FIFOs and devices are sent as they are (header
 * only, never opened), sockets are left out: the docker CLI's choice.
 *
 * @module
 */

import { fileSystemError } from "../_messages.ts";
import { DockerError } from "../errors.ts";
import { type TarEntry, tarStream } from "../stream/tar.ts";
import { cleanPath, DockerignoreMatcher, parseDockerignore } from "./dockerignore.ts";

/** Options of {@linkcode packContext}. */
export interface PackContextOptions {
  /**
   * Path of the Dockerfile, relative to the context directory (or absolute,
   * inside it). It is sent even when `.dockerignore` excludes it, as the
   * docker CLI does (the engine leaves it out of `COPY` and `ADD`).
   *
   * @default "Dockerfile"
   */
  dockerfile?: string;
  /**
   * Patterns to use instead of the context's `.dockerignore` file, with the
   * same syntax (see {@linkcode DockerignoreMatcher}). `[]` sends everything.
   * The Dockerfile and `.dockerignore` are sent whatever the patterns say.
   *
   * @default the patterns of `<directory>/.dockerignore`, if it exists
   */
  excludes?: readonly string[];
}

/**
 * Turns the `dockerfile` option of a directory context into the path the
 * engine looks for inside the archive.
 *
 * @param directory The context directory (a path or a `file:` URL).
 * @param dockerfile The option as given: relative to the directory, or
 *   absolute inside it.
 * @returns A clean relative path such as `Dockerfile` or `docker/Dockerfile.dev`.
 * @throws {TypeError} When it is empty or outside the context.
 *
 * @example Resolve an absolute Dockerfile path
 * ```ts
 * import assert from "node:assert/strict";
 * import { contextDockerfile } from "./context.ts";
 *
 * assert.equal(contextDockerfile("/src/app", "/src/app/docker/Dockerfile"), "docker/Dockerfile");
 * assert.equal(contextDockerfile("/src/app", "./Dockerfile.dev"), "Dockerfile.dev");
 * assert.equal(contextDockerfile("/src/app", undefined), "Dockerfile");
 * ```
 */
export function contextDockerfile(directory: string | URL, dockerfile: string | undefined): string {
  const root = rootPath(directory);
  if (dockerfile === undefined) return "Dockerfile";
  if (typeof dockerfile !== "string" || dockerfile.trim() === "") {
    throw new TypeError(`A Dockerfile path is required (got ${JSON.stringify(dockerfile)})`);
  }
  let path = dockerfile;
  if (path.startsWith("/")) {
    const prefix = root === "/" ? "/" : `${root}/`;
    if (!path.startsWith(prefix)) {
      throw new TypeError(
        `The Dockerfile ${JSON.stringify(dockerfile)} must be inside the build context ${
          JSON.stringify(root)
        }`,
      );
    }
    path = path.slice(prefix.length);
  }
  const cleaned = cleanPath(path);
  if (cleaned === "." || cleaned === ".." || cleaned.startsWith("../")) {
    throw new TypeError(
      `The Dockerfile ${JSON.stringify(dockerfile)} must be a file inside the build context`,
    );
  }
  return cleaned;
}

/** Escapes the pattern characters of a literal path, for an exception line. */
function literalPattern(path: string): string {
  return path.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/**
 * Orders names by code point (UTF-8 byte order, as Go sorts directory
 * entries).
 *
 * @param a A name.
 * @param b Another.
 * @returns Negative when `a` sorts first, positive when `b` does, else 0.
 */
function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The context directory as a path without a trailing slash.
 *
 * @param directory A path or a `file:` URL.
 * @returns The path.
 * @throws {TypeError} For an empty path or another kind of URL.
 */
function rootPath(directory: string | URL): string {
  let path: string;
  if (directory instanceof URL) {
    if (directory.protocol !== "file:") {
      throw new TypeError(`A build context directory must be a file: URL (got ${directory.href})`);
    }
    path = decodeURIComponent(directory.pathname);
  } else if (typeof directory === "string" && directory !== "") {
    path = directory;
  } else {
    throw new TypeError(
      `A build context directory is required (got ${JSON.stringify(directory)})`,
    );
  }
  return path.length > 1 ? path.replace(/\/+$/, "") || "/" : path;
}

/**
 * A file's contents, opened at the first read and cut at `size` bytes (so
 * a file that grows while it is sent still fits its header).
 */
function fileBody(path: string, name: string, size: number): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      reader ??= (await Deno.open(path)).readable.getReader();
      const { done, value } = await reader.read();
      if (done) {
        throw new DockerError(
          `Cannot send the build context: "${name}" shrank while it was read (${sent} of ${size} bytes)`,
        );
      }
      const chunk = sent + value.length > size ? value.subarray(0, size - sent) : value;
      sent += chunk.length;
      controller.enqueue(chunk);
      if (sent === size) {
        await reader.cancel();
        controller.close();
      }
    },
    cancel: async (reason) => {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** What the walk needs besides the current directory. */
interface Walk {
  root: string;
  matcher: DockerignoreMatcher | undefined;
  /** `dev:ino` of files already sent, for hard links. */
  inodes: Map<string, string>;
}

/**
 * The major and minor numbers of a device, decoded from its `rdev` as
 * glibc's `gnu_dev_major` and `gnu_dev_minor` do (so does Go's
 * `unix.Major`/`unix.Minor`, which the docker CLI's archive uses).
 *
 * @param info The device's `lstat`.
 * @returns Both numbers; 0 and 0 when `rdev` is not known (Windows).
 */
export function deviceNumbers(info: Deno.FileInfo): { major: number; minor: number } {
  const rdev = BigInt(info.rdev ?? 0);
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * Whether an entry is a FIFO or a device: sent without data, never opened
 * (opening a FIFO for reading waits for a writer).
 *
 * @param info Its `lstat`.
 * @returns True for FIFOs and character and block devices.
 */
export function isSpecialFile(info: Deno.FileInfo): boolean {
  return info.isFifo === true || info.isCharDevice === true || info.isBlockDevice === true;
}

/**
 * One entry of the archive from its `lstat`, or `undefined` for a socket
 * (which the docker CLI leaves out too, with a warning).
 */
async function entryOf(
  walk: Walk,
  path: string,
  name: string,
  info: Deno.FileInfo,
): Promise<TarEntry | undefined> {
  const mode = (info.mode ?? (info.isDirectory ? 0o755 : 0o644)) & 0o7777;
  const entry: TarEntry = { name, mode };
  if (info.mtime) entry.mtime = info.mtime;
  if (info.isDirectory) {
    entry.type = "directory";
  } else if (info.isSymlink) {
    entry.type = "symlink";
    entry.linkname = await Deno.readLink(path);
  } else if (info.isFile || isSpecialFile(info)) {
    // A FIFO or device with several names is a hard link too, as with the
    // docker CLI (which links any non-directory).
    const first = hardLinkTarget(walk.inodes, info, name);
    if (first !== undefined) {
      entry.type = "hardlink";
      entry.linkname = first;
      return entry;
    }
    if (info.isFile) {
      entry.size = info.size;
      if (info.size > 0) entry.body = fileBody(path, name, info.size);
    } else if (info.isFifo) {
      entry.type = "fifo";
    } else {
      entry.type = info.isCharDevice ? "character-device" : "block-device";
      const { major, minor } = deviceNumbers(info);
      entry.devmajor = major;
      entry.devminor = minor;
    }
  } else {
    return undefined;
  }
  return entry;
}

/**
 * Hard links in a walk: the name a file was first met under, when `info`
 * is a file already met; otherwise `undefined`, and `name` is noted as
 * that file's first name (for a file with more than one name). Regular
 * files, FIFOs and devices go through it; directories and symlinks do not.
 *
 * @param inodes `dev:ino` to first name, kept for the whole walk.
 * @param info The file's `lstat`.
 * @param name Its path in the context.
 * @returns The first name, when this is a later one.
 */
export function hardLinkTarget(
  inodes: Map<string, string>,
  info: Deno.FileInfo,
  name: string,
): string | undefined {
  if (info.nlink === null || info.nlink < 2 || info.ino === null) return undefined;
  const key = `${info.dev}:${info.ino}`;
  const first = inodes.get(key);
  if (first === undefined) inodes.set(key, name);
  return first;
}

/** One entry of a context directory, as a walk meets it. */
export interface ContextEntry {
  /** Its path relative to the context (`sub/file.txt`). */
  name: string;
  /** Its path on disk. */
  path: string;
  /** Its `lstat`. */
  info: Deno.FileInfo;
}

/**
 * The entries of one directory of a context, in name order (byte order,
 * as Go sorts and as BuildKit's receiver checks), each with its `lstat`.
 * An entry that vanishes before its `lstat` is skipped, and so is a
 * directory below the root that vanished before it was listed.
 *
 * @param root The context directory.
 * @param relative The directory to list, relative to `root` (`""` for the root).
 */
export async function* listDirectory(
  root: string,
  relative: string,
): AsyncGenerator<ContextEntry> {
  const names: string[] = [];
  try {
    for await (const item of Deno.readDir(relative === "" ? root : `${root}/${relative}`)) {
      names.push(item.name);
    }
  } catch (error) {
    if (relative !== "" && error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  names.sort(compareNames);
  for (const base of names) {
    const name = relative === "" ? base : `${relative}/${base}`;
    const path = root === "/" ? `/${name}` : `${root}/${name}`;
    try {
      yield { name, path, info: await Deno.lstat(path) };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

/**
 * Walks one directory depth-first in name order, yielding what is not
 * excluded. An excluded directory is only entered when an exception could
 * re-include something inside it.
 */
async function* walkDirectory(
  walk: Walk,
  relative: string,
  parent: readonly boolean[] | undefined,
): AsyncGenerator<TarEntry> {
  for await (const { name, path, info } of listDirectory(walk.root, relative)) {
    const decision = walk.matcher?.match(name, parent);
    if (decision?.excluded) {
      if (info.isDirectory && walk.matcher!.mayIncludeUnder(name)) {
        yield* walkDirectory(walk, name, decision.state);
      }
      continue;
    }
    const entry = await entryOf(walk, path, name, info);
    if (entry) yield entry;
    if (info.isDirectory) yield* walkDirectory(walk, name, decision?.state);
  }
}

/**
 * Packs a directory as a build context: a tar stream produced while it is
 * read, with the directory's contents at the archive root.
 *
 * - `.dockerignore` (or `excludes`) is honoured with Docker's semantics;
 *   an excluded directory is not walked unless an exception could match
 *   inside it. `.dockerignore` and the Dockerfile are always sent, even
 *   when excluded, as the docker CLI does.
 * - Entries come depth-first in name order (byte order, as Go sorts), so
 *   the same tree always gives the same archive.
 * - Permission bits and modification times (whole seconds) are kept;
 *   owners are written as 0:0, as the docker CLI does.
 * - Symlinks are sent as symlinks, never followed, even when they point
 *   outside the context; a file with several names in the context is sent
 *   once and then as hard links.
 * - FIFOs and character and block devices are sent as such (header only,
 *   the devices with their major and minor numbers) and never opened, as
 *   the docker CLI does; sockets are left out, as it does too.
 *
 * The directory is checked and `.dockerignore` read before this returns;
 * the rest happens as the stream is read. A file that cannot be read, or
 * that shrinks while it is read, errors the stream (which fails the build
 * request); cancelling the stream closes the open file.
 *
 * @param directory The context directory (a path or a `file:` URL).
 * @param options The Dockerfile's path and replacement exclude patterns.
 * @returns The tar archive.
 * @throws {TypeError} When `directory` is not a directory (or does not
 *   exist), when the Dockerfile path leaves the context, or for a
 *   malformed `.dockerignore` pattern.
 *
 * @example Pack a directory and list what would be sent
 * ```ts ignore
 * import { packContext } from "./context.ts";
 * import { readTar } from "../stream/tar.ts";
 *
 * for await (const entry of readTar(await packContext("./app"))) {
 *   console.log(entry.type, entry.name);
 *   await entry.body.cancel();
 * }
 * ```
 */
export async function packContext(
  directory: string | URL,
  options: PackContextOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const root = await contextRoot(directory);
  const matcher = await contextMatcher(root, options);
  const walk: Walk = { root, matcher, inodes: new Map() };
  return tarStream(walkDirectory(walk, "", undefined));
}

/**
 * Checks that the Dockerfile a directory build names is a file of the
 * context, before anything is sent: the classic builder would fail on the
 * engine ("Cannot locate specified Dockerfile") only after the whole
 * context went, and BuildKit with an error from deep in the file transfer.
 *
 * @param root The context directory (checked by {@linkcode contextRoot}).
 * @param dockerfile The `dockerfile` option (a path in the context, or an
 *   absolute path inside it); `Dockerfile` when undefined.
 * @throws {TypeError} When it is not in the context, does not exist or is
 *   not a file.
 * @throws {DockerError} When it may not be read (Deno permission or file mode).
 */
export async function checkDockerfile(root: string, dockerfile: string | undefined): Promise<void> {
  const relative = contextDockerfile(root, dockerfile);
  const path = `${root === "/" ? "" : root}/${relative}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      throw new TypeError(
        `Cannot locate the Dockerfile ${JSON.stringify(relative)} in the build context ${
          JSON.stringify(root)
        }`,
        { cause: error },
      );
    }
    throw fileSystemError(
      error,
      `Cannot read the Dockerfile ${JSON.stringify(path)}`,
      `--allow-read=${root}`,
    );
  }
  if (!info.isFile) {
    throw new TypeError(
      `The Dockerfile ${JSON.stringify(relative)} in the build context ${
        JSON.stringify(root)
      } is not a file`,
    );
  }
}

/**
 * The context directory, checked to be one.
 *
 * @param directory A path or a `file:` URL.
 * @returns Its path, without a trailing slash.
 * @throws {TypeError} When it does not exist or is not a directory.
 * @throws {DockerError} When it may not be read (Deno permission or file mode).
 */
export async function contextRoot(directory: string | URL): Promise<string> {
  const root = rootPath(directory);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new TypeError(`The build context ${JSON.stringify(root)} does not exist`, {
        cause: error,
      });
    }
    throw fileSystemError(
      error,
      `Cannot read the build context ${JSON.stringify(root)}`,
      `--allow-read=${root}`,
    );
  }
  if (!info.isDirectory) {
    throw new TypeError(`The build context ${JSON.stringify(root)} is not a directory`);
  }
  return root;
}

/**
 * What to leave out of a context directory: its `.dockerignore` (or the
 * `excludes` given instead).
 *
 * @param root The context directory (checked by {@linkcode contextRoot}).
 * @param options The Dockerfile's path and replacement exclude patterns.
 * @param keepBuildFiles Add exceptions so that `.dockerignore` and the
 *   Dockerfile are sent even when excluded, as the docker CLI does for a
 *   tar context (the classic builder needs them in it, and leaves them out
 *   of `COPY` itself). A BuildKit session reads the Dockerfile from its
 *   own directory: there, as with the docker CLI, the patterns apply as
 *   they are.
 * @returns The matcher, or `undefined` when nothing is excluded.
 * @throws {TypeError} For a malformed pattern or a Dockerfile outside the context.
 */
export async function contextMatcher(
  root: string,
  options: PackContextOptions,
  keepBuildFiles = true,
): Promise<DockerignoreMatcher | undefined> {
  const dockerfile = contextDockerfile(root, options.dockerfile);
  let patterns: string[];
  if (options.excludes !== undefined) {
    patterns = [...options.excludes];
  } else {
    try {
      patterns = parseDockerignore(
        await Deno.readTextFile(root === "/" ? "/.dockerignore" : `${root}/.dockerignore`),
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      patterns = [];
    }
  }
  let matcher: DockerignoreMatcher | undefined;
  if (patterns.length > 0) {
    matcher = new DockerignoreMatcher(patterns);
    if (!keepBuildFiles) return matcher;
    // The engine needs both files; it leaves them out of COPY and ADD itself.
    const keep: string[] = [];
    if (matcher.matches(".dockerignore")) keep.push("!.dockerignore");
    if (matcher.matches(dockerfile)) keep.push(`!${literalPattern(dockerfile)}`);
    if (keep.length > 0) matcher = new DockerignoreMatcher([...patterns, ...keep]);
  }
  return matcher;
}
