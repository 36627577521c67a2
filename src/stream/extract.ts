/**
 * Safe extraction of a tar stream into a local directory (for archives
 * from `GET /containers/{id}/archive`, `export` or `GET /images/get`, which
 * are untrusted: anything inside a container can shape them).
 *
 * Guards against zip-slip (CWE-22) and link following (CWE-59), in the
 * spirit of CVE-2018-15664: names are normalised and must stay inside the
 * destination; no write goes through a symlink (every parent is checked
 * with `lstat`, files are created with `O_EXCL`); symlinks and hard links
 * are created last, after every file, and only when their target stays
 * inside the destination (the others fail the extraction, or are skipped
 * under the `"skip-outside"` policy); devices and FIFOs are skipped; entry
 * count and total size are capped.
 *
 * @module
 */

import { fileSystemError } from "../_messages.ts";
import { DockerError } from "../errors.ts";
import { readTar, type TarReaderEntry } from "./tar.ts";

// Re-exported so that this module's public types are complete on their own.
export { DockerError };

/**
 * What to do with symlinks or hard links in the archive:
 *
 * - `"within"` creates those whose target stays inside the destination and
 *   throws {@linkcode UnsafeArchiveError} (reason `"link-outside"`) at the
 *   first other one.
 * - `"skip-outside"` creates the same links as `"within"` and skips the
 *   others instead of throwing (they are counted in `skipped`): for a tree
 *   copied out of a container, which often holds absolute symlinks such as
 *   `/etc/alternatives/...`. A symlink is created when its target is
 *   relative and made of `../` (not above the destination) followed by
 *   names only; a hard link when its target is a regular file inside the
 *   destination, reached without symlinks. A link left out leaves nothing
 *   in its place (a link pointing at it then dangles).
 * - `"skip"` creates none (they are counted in `skipped`).
 * - `"reject"` throws at the first one (reason `"link-refused"`).
 *
 * Deno creates symlinks only with unscoped `--allow-read --allow-write`
 * (path-scoped grants are refused), so under scoped flags an archive with
 * symlinks extracts only with `"skip"`. Hard links need no more than the
 * scoped flags.
 */
export type ExtractLinkPolicy = "within" | "skip-outside" | "skip" | "reject";

/** Options of {@linkcode extractTar}. */
export interface ExtractTarOptions {
  /** Most entries (of any kind, skipped ones included) before failing. @default 100000 */
  maxEntries?: number;
  /** Most bytes of file data in total before failing. @default 10737418240 (10 GiB) */
  maxTotalSize?: number;
  /**
   * Replace files and links that already exist (in `dest` or earlier in the
   * archive). An existing directory is never replaced by a non-directory.
   * @default false
   */
  overwrite?: boolean;
  /** Symlink policy. @default "within" */
  symlinks?: ExtractLinkPolicy;
  /** Hard link policy. @default "within" */
  hardlinks?: ExtractLinkPolicy;
  /** Stops the extraction between chunks; the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** Short name of {@linkcode ExtractTarOptions}. */
export type ExtractOptions = ExtractTarOptions;

/** Result of {@linkcode extractTar}. */
export interface ExtractTarResult {
  /** Entries read from the archive (created and skipped). */
  entries: number;
  /** Bytes of file data written. */
  bytes: number;
  /**
   * Entries not created: devices, FIFOs and other special kinds, links
   * under the `"skip"` policy, and links leading outside under
   * `"skip-outside"`.
   */
  skipped: number;
}

/** Why {@linkcode UnsafeArchiveError} refused an entry. */
export type UnsafeArchiveReason =
  /** The name is empty after normalisation (for a non-directory) or contains a NUL byte. */
  | "invalid-name"
  /** The name is absolute. */
  | "absolute-path"
  /** The name climbs above the destination with `..`. */
  | "parent-traversal"
  /** A parent of the path is a symlink: writing there would go through it. */
  | "symlink-in-path"
  /** The path exists (and `overwrite` is off, or it is a directory, or a non-directory is in the way). */
  | "exists"
  /**
   * A link's target is absolute or climbs out of the destination, or (hard
   * link) is not a regular file there; never thrown for a link under
   * `"skip-outside"`.
   */
  | "link-outside"
  /** A link in an archive extracted with the `"reject"` policy. */
  | "link-refused"
  /** More entries than `maxEntries`. */
  | "too-many-entries"
  /** More file data than `maxTotalSize`. */
  | "too-large";

/**
 * {@linkcode extractTar} refused an archive entry, or the archive went over
 * a cap. Entries before it stay written.
 *
 * @example Tell a refused entry apart
 * ```ts
 * import { UnsafeArchiveError } from "./extract.ts";
 *
 * const error = new UnsafeArchiveError("../evil", "parent-traversal", 'Refusing tar entry "../evil": it climbs out of the destination');
 * console.log(error.entryName, error.reason); // ../evil parent-traversal
 * ```
 */
export class UnsafeArchiveError extends DockerError {
  /** Always `"UnsafeArchiveError"`. */
  override name = "UnsafeArchiveError";
  /** The entry's name as stored in the archive. */
  readonly entryName: string;
  /** Why it was refused. */
  readonly reason: UnsafeArchiveReason;

  /**
   * Builds the error.
   *
   * @param entryName The entry's name as stored.
   * @param reason Why it was refused.
   * @param message What was refused and why.
   */
  constructor(entryName: string, reason: UnsafeArchiveReason, message: string) {
    super(message);
    this.entryName = entryName;
    this.reason = reason;
  }
}

const WINDOWS = Deno.build.os === "windows";

/** Every {@linkcode ExtractLinkPolicy}. */
const LINK_POLICIES: readonly ExtractLinkPolicy[] = ["within", "skip-outside", "skip", "reject"];

/**
 * Checks a link policy option before any I/O.
 *
 * @param value What was given.
 * @param name The option, for the message (`output.symlinks`).
 * @throws {TypeError} When it is not an {@linkcode ExtractLinkPolicy}.
 */
export function checkLinkPolicy(value: unknown, name: string): asserts value is ExtractLinkPolicy {
  if (!LINK_POLICIES.includes(value as ExtractLinkPolicy)) {
    throw new TypeError(
      `${name} must be one of ${LINK_POLICIES.map((p) => `"${p}"`).join(", ")} (got ${
        JSON.stringify(value)
      })`,
    );
  }
}

/** Whether `error` refuses a link because of its target, which `"skip-outside"` skips. */
function isOutside(error: unknown): boolean {
  return error instanceof UnsafeArchiveError && error.reason === "link-outside";
}

function refuse(
  entry: { name: string },
  reason: UnsafeArchiveReason,
  why: string,
): UnsafeArchiveError {
  return new UnsafeArchiveError(
    entry.name,
    reason,
    `Refusing tar entry ${JSON.stringify(entry.name)}: ${why}`,
  );
}

/**
 * Normalises an archive name into path segments below the destination:
 * drops empty and `.` segments, resolves `..` lexically.
 */
function segmentsOf(entry: { name: string }, name: string): string[] {
  if (name.includes("\0")) throw refuse(entry, "invalid-name", "the name contains a NUL byte");
  const parts = WINDOWS ? name.split(/[\\/]/) : name.split("/");
  if (name.startsWith("/") || (WINDOWS && (/^[A-Za-z]:/.test(name) || name.startsWith("\\")))) {
    throw refuse(entry, "absolute-path", "the name is absolute");
  }
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) {
        throw refuse(entry, "parent-traversal", `its name climbs out of the destination with ".."`);
      }
      out.pop();
    } else {
      out.push(part);
    }
  }
  return out;
}

/**
 * Checks a symlink target: relative, and of the form `../` (at most as many
 * times as the link is deep) followed by names only, so that it resolves
 * inside the destination whatever the other links point to.
 */
function checkSymlinkTarget(entry: TarReaderEntry, segments: string[]): void {
  const target = entry.linkname;
  if (target === "" || target.includes("\0")) {
    throw refuse(entry, "link-outside", "the symlink target is empty or has a NUL byte");
  }
  if (
    target.startsWith("/") || (WINDOWS && (/^[A-Za-z]:/.test(target) || target.startsWith("\\")))
  ) {
    throw refuse(entry, "link-outside", `the symlink target ${JSON.stringify(target)} is absolute`);
  }
  let up = 0;
  let named = false;
  for (const part of WINDOWS ? target.split(/[\\/]/) : target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (named) {
        throw refuse(
          entry,
          "link-outside",
          `the symlink target ${JSON.stringify(target)} has ".." after a name`,
        );
      }
      up++;
    } else {
      named = true;
    }
  }
  if (up > segments.length - 1) {
    throw refuse(
      entry,
      "link-outside",
      `the symlink target ${JSON.stringify(target)} points out of the destination`,
    );
  }
}

interface DeferredLink {
  entry: TarReaderEntry;
  segments: string[];
  /** Normalised target segments (hard links only). */
  target: string[];
  /** Skip it (rather than throw) when its target turns out to be outside. */
  skipOutside: boolean;
}

/**
 * Checks a link's target as far as it can be before anything is created:
 * a symlink's with {@linkcode checkSymlinkTarget}, a hard link's lexically.
 *
 * @returns The hard link target's segments (empty for a symlink).
 * @throws {UnsafeArchiveError} With reason `"link-outside"`.
 */
function linkTarget(entry: TarReaderEntry, segments: string[]): string[] {
  if (entry.type === "symlink") {
    checkSymlinkTarget(entry, segments);
    return [];
  }
  if (entry.linkname.startsWith("/")) {
    throw refuse(
      entry,
      "link-outside",
      `the hard link target ${JSON.stringify(entry.linkname)} is absolute`,
    );
  }
  let target: string[];
  try {
    target = segmentsOf(entry, entry.linkname);
  } catch {
    throw refuse(
      entry,
      "link-outside",
      `the hard link target ${JSON.stringify(entry.linkname)} is outside the destination`,
    );
  }
  if (target.length === 0) {
    throw refuse(entry, "link-outside", "the hard link target is the destination itself");
  }
  return target;
}

interface DeferredDirectory {
  path: string;
  depth: number;
  mode: number;
  mtime: number;
}

function checkLimit(value: number, key: string): number {
  if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 0))) {
    throw new RangeError(`extractTar: ${key} must be a non-negative integer (got ${value})`);
  }
  return value;
}

/**
 * Extracts a tar stream into `dest`, safely (see the module documentation
 * for the rules). `dest` is created if missing; its real path is the root
 * every entry must stay under.
 *
 * Files are written as their data streams in (never buffered whole), with
 * their mode masked to `0o777` (no setuid, setgid or sticky bits) and their
 * modification time. Directories get their mode and time at the end, deepest
 * first (so a read-only directory does not block its own contents).
 * Symlinks and hard links are created after all files and directories: hard
 * links first (their target must be a regular file already extracted or
 * present), then symlinks; symlink modes and times are not set.
 *
 * On error, the archive stream is cancelled and nothing is rolled back:
 * what was written before the failing entry stays (no link at all when the
 * failure comes before the links are made), and a file being written when
 * it failed may be left partial. Directories already created still get
 * their mode and time (as far as the file system lets), so a partial tree
 * is never more open than the archive says; while the extraction runs,
 * directories from the archive are `0o700`. Nothing is ever written
 * outside `dest`. Existing contents of `dest` are trusted except that
 * symlinks among them are never written through; `dest` must not be
 * modified concurrently by someone untrusted (path checks and writes are not
 * atomic).
 *
 * Requires `--allow-read` and `--allow-write` on `dest`. Symlinks need both
 * unscoped (`--allow-read --allow-write`): Deno refuses `Deno.symlink` under
 * path-scoped grants, since a symlink's target is only resolved when it is
 * followed. With scoped flags, pass `symlinks: "skip"`.
 *
 * @param stream The tar archive (plain, not compressed).
 * @param dest Directory to extract into.
 * @param options Caps, overwrite, link policies and `signal`.
 * @returns How many entries were read, bytes written and entries skipped.
 * @throws {TypeError} When `dest` is empty.
 * @throws {RangeError} When a cap is negative or not an integer.
 * @throws {UnsafeArchiveError} When an entry would escape `dest`, go through
 *   a symlink, replace an existing path (without `overwrite`), or a cap is
 *   exceeded.
 * @throws {DockerProtocolError} When the archive is malformed or truncated.
 * @throws {DockerError} When the file system refuses (a Deno permission
 *   missing: the message names `--allow-read` and `--allow-write` on
 *   `dest`, or says that symlinks need them unscoped; no space; ...), with
 *   the original error as `cause`.
 *
 * @example Extract an archive made in memory
 * ```ts
 * import { extractTar } from "./extract.ts";
 * import { tarStream } from "./tar.ts";
 *
 * const dest = await Deno.makeTempDir();
 * const archive = tarStream([
 *   { name: "etc", type: "directory" },
 *   { name: "etc/motd", body: "welcome\n", mode: 0o600 },
 *   { name: "motd", type: "symlink", linkname: "etc/motd" },
 * ]);
 * const result = await extractTar(archive, dest);
 * console.log(result, await Deno.readTextFile(`${dest}/motd`)); // { entries: 3, bytes: 8, skipped: 0 } "welcome\n"
 * await Deno.remove(dest, { recursive: true });
 * ```
 *
 * @example Keep the links that stay inside, skip those leading out
 * ```ts
 * import { extractTar } from "./extract.ts";
 * import { tarStream } from "./tar.ts";
 *
 * const dest = await Deno.makeTempDir();
 * const archive = tarStream([
 *   { name: "usr/bin/vim.basic", body: "vim" },
 *   { name: "usr/bin/view", type: "symlink", linkname: "vim.basic" }, // created
 *   { name: "etc/vi", type: "symlink", linkname: "/usr/bin/vim.basic" }, // absolute: skipped
 * ]);
 * const result = await extractTar(archive, dest, { symlinks: "skip-outside" });
 * console.log(result.skipped, await Deno.readLink(`${dest}/usr/bin/view`)); // 1 "vim.basic"
 * await Deno.remove(dest, { recursive: true });
 * ```
 */
export async function extractTar(
  stream: ReadableStream<Uint8Array>,
  dest: string,
  options: ExtractTarOptions = {},
): Promise<ExtractTarResult> {
  if (typeof dest !== "string" || dest === "") {
    throw new TypeError(`A destination directory is required (got ${JSON.stringify(dest)})`);
  }
  const maxEntries = checkLimit(options.maxEntries ?? 100_000, "maxEntries");
  const maxTotalSize = checkLimit(options.maxTotalSize ?? 10 * 1024 ** 3, "maxTotalSize");
  const overwrite = options.overwrite ?? false;
  const policies = {
    symlink: options.symlinks ?? "within",
    hardlink: options.hardlinks ?? "within",
  };
  for (const [key, value] of Object.entries(policies)) {
    checkLinkPolicy(value, `extractTar: ${key}s`);
  }
  const signal = options.signal;
  signal?.throwIfAborted();

  const reader = readTar(stream, { maxEntries: Infinity }).getReader();
  const result: ExtractTarResult = { entries: 0, bytes: 0, skipped: 0 };
  let extractor: Extractor | undefined;
  try {
    await Deno.mkdir(dest, { recursive: true });
    const root = await Deno.realPath(dest);
    extractor = new Extractor(root, overwrite, signal, dest);
    const links: DeferredLink[] = [];
    while (true) {
      signal?.throwIfAborted();
      const { done, value: entry } = await reader.read();
      if (done) break;
      result.entries++;
      if (result.entries > maxEntries) {
        throw refuse(
          entry,
          "too-many-entries",
          `the archive has more than maxEntries (${maxEntries}) entries`,
        );
      }
      const segments = segmentsOf(entry, entry.name);
      switch (entry.type) {
        case "file": {
          if (segments.length === 0) {
            throw refuse(entry, "invalid-name", "a file needs a non-empty name");
          }
          if (result.bytes + entry.size > maxTotalSize) {
            throw refuse(
              entry,
              "too-large",
              `the archive has more than maxTotalSize (${maxTotalSize}) bytes of data`,
            );
          }
          await extractor.file(entry, segments);
          result.bytes += entry.size;
          break;
        }
        case "directory":
          await extractor.directory(entry, segments);
          break;
        case "symlink":
        case "hardlink": {
          const policy = policies[entry.type];
          if (policy === "skip") {
            result.skipped++;
            break;
          }
          if (policy === "reject") {
            throw refuse(
              entry,
              "link-refused",
              `${entry.type}s are refused (${entry.type}s: "reject")`,
            );
          }
          if (segments.length === 0) {
            throw refuse(entry, "invalid-name", "a link needs a non-empty name");
          }
          let target: string[];
          try {
            target = linkTarget(entry, segments);
          } catch (error) {
            if (policy === "skip-outside" && isOutside(error)) {
              result.skipped++;
              break;
            }
            throw error;
          }
          links.push({ entry, segments, target, skipOutside: policy === "skip-outside" });
          break;
        }
        default:
          result.skipped++;
      }
      await entry.body.cancel().catch(() => {});
    }
    for (const link of links) {
      if (link.entry.type === "hardlink" && !(await extractor.hardlink(link))) result.skipped++;
    }
    for (const link of links) if (link.entry.type === "symlink") await extractor.symlink(link);
    await extractor.finishDirectories();
    return result;
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    // A partial tree gets the modes the archive gives its directories too
    // (the ones created so far are 0o700 until then).
    await extractor?.finishDirectories(true);
    throw fileSystemError(
      error,
      `Cannot extract into ${JSON.stringify(dest)}`,
      `--allow-read=${dest} --allow-write=${dest}`,
    );
  } finally {
    reader.releaseLock();
  }
}

/** The file system work of one extraction. */
class Extractor {
  readonly #root: string;
  readonly #overwrite: boolean;
  readonly #signal: AbortSignal | undefined;
  /** `dest` as the caller gave it, for messages. */
  readonly #dest: string;
  /** Relative paths known to be real directories (created or checked). */
  readonly #directories = new Set<string>();
  /** Directory modes and times, applied at the end. */
  readonly #deferred = new Map<string, DeferredDirectory>();

  constructor(root: string, overwrite: boolean, signal: AbortSignal | undefined, dest: string) {
    this.#root = root;
    this.#overwrite = overwrite;
    this.#signal = signal;
    this.#dest = dest;
  }

  #path(segments: string[]): string {
    const relative = segments.join("/");
    return this.#root.endsWith("/") ? this.#root + relative : `${this.#root}/${relative}`;
  }

  /** Makes sure every parent of `segments` is a real directory (creating missing ones). */
  async #parents(entry: { name: string }, segments: string[], create: boolean): Promise<void> {
    for (let i = 1; i < segments.length; i++) {
      const relative = segments.slice(0, i).join("/");
      if (this.#directories.has(relative)) continue;
      const path = this.#path(segments.slice(0, i));
      let info: Deno.FileInfo | null = null;
      try {
        info = await Deno.lstat(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      if (info === null) {
        if (!create) {
          throw refuse(
            entry,
            "link-outside",
            `the link target's directory "${relative}" does not exist`,
          );
        }
        await Deno.mkdir(path, { mode: 0o755 });
      } else if (info.isSymlink) {
        throw refuse(
          entry,
          "symlink-in-path",
          `"${relative}" is a symlink; writing through it is refused`,
        );
      } else if (!info.isDirectory) {
        throw refuse(entry, "exists", `"${relative}" exists and is not a directory`);
      }
      this.#directories.add(relative);
    }
  }

  /**
   * Clears the way for a new non-directory at `path`: refuses an existing
   * directory, and an existing file or link without `overwrite`.
   */
  async #clear(entry: { name: string }, path: string): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    if (info.isDirectory) throw refuse(entry, "exists", "a directory exists at that path");
    if (!this.#overwrite) {
      throw refuse(entry, "exists", "the path exists (pass overwrite: true to replace it)");
    }
    await Deno.remove(path);
  }

  async file(entry: TarReaderEntry, segments: string[]): Promise<void> {
    await this.#parents(entry, segments, true);
    const path = this.#path(segments);
    const mode = entry.mode & 0o777;
    let file: Deno.FsFile;
    try {
      // createNew is O_CREAT|O_EXCL: it never follows a symlink at `path`.
      file = await Deno.open(path, { write: true, createNew: true, mode });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      await this.#clear(entry, path);
      file = await Deno.open(path, { write: true, createNew: true, mode });
    }
    try {
      // The mode given to open is reduced by the umask; set it exactly.
      if (!WINDOWS) await Deno.chmod(path, mode);
      for await (const chunk of entry.body) {
        this.#signal?.throwIfAborted();
        let offset = 0;
        while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
      }
      await file.utime(entry.mtime, entry.mtime);
    } finally {
      file.close();
    }
  }

  async directory(entry: TarReaderEntry, segments: string[]): Promise<void> {
    if (segments.length === 0) return; // "./": the destination itself keeps its mode and time
    await this.#parents(entry, segments, true);
    const relative = segments.join("/");
    const path = this.#path(segments);
    if (!this.#directories.has(relative)) {
      let info: Deno.FileInfo | null = null;
      try {
        info = await Deno.lstat(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      if (info?.isSymlink) throw refuse(entry, "symlink-in-path", "a symlink exists at that path");
      if (info && !info.isDirectory) {
        await this.#clear(entry, path);
        info = null;
      }
      // Private until finishDirectories gives it the archive's mode.
      if (info === null) await Deno.mkdir(path, { mode: 0o700 });
      this.#directories.add(relative);
    }
    this.#deferred.set(relative, {
      path,
      depth: segments.length,
      mode: entry.mode & 0o777,
      mtime: entry.mtime,
    });
  }

  /**
   * Creates a hard link, once its target is known to be a regular file
   * inside the destination, reached without symlinks.
   *
   * @returns `false` when it was skipped (target outside, under `"skip-outside"`).
   */
  async hardlink(link: DeferredLink): Promise<boolean> {
    const { entry, segments, target } = link;
    let targetPath: string;
    try {
      targetPath = await this.#hardlinkTarget(entry, target);
    } catch (error) {
      // Every refusal here is about the target (missing, not a regular
      // file, or behind a symlink that may lead anywhere): never a write.
      if (link.skipOutside && error instanceof UnsafeArchiveError) return false;
      throw error;
    }
    if (target.join("/") === segments.join("/")) return true; // a link to itself: already there
    await this.#parents(entry, segments, true);
    const path = this.#path(segments);
    await this.#clear(entry, path);
    await Deno.link(targetPath, path);
    return true;
  }

  /** The path of a hard link's target, checked to be a regular file reached without symlinks. */
  async #hardlinkTarget(entry: TarReaderEntry, target: string[]): Promise<string> {
    await this.#parents(entry, target, false);
    const targetPath = this.#path(target);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(targetPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw refuse(
        entry,
        "link-outside",
        `the hard link target ${JSON.stringify(entry.linkname)} does not exist`,
      );
    }
    if (!info.isFile) {
      throw refuse(
        entry,
        "link-outside",
        `the hard link target ${JSON.stringify(entry.linkname)} is not a regular file`,
      );
    }
    return targetPath;
  }

  async symlink(link: DeferredLink): Promise<void> {
    const { entry, segments } = link;
    await this.#parents(entry, segments, true);
    const path = this.#path(segments);
    await this.#clear(entry, path);
    try {
      await Deno.symlink(entry.linkname, path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
      // Deno 2.9 refuses Deno.symlink under path-scoped grants: naming the
      // scoped flags the caller already has would not help.
      throw new DockerError(
        `Cannot extract into ${JSON.stringify(this.#dest)}: creating the symlink ${
          JSON.stringify(entry.name)
        } needs unscoped --allow-read --allow-write (Deno refuses Deno.symlink under path-scoped grants); run with them, or extract with symlinks: "skip"`,
        { cause: error },
      );
    }
  }

  /**
   * Gives the archive's directories their modes and times, deepest first.
   *
   * @param bestEffort After a failure: go on past errors, throw none.
   */
  async finishDirectories(bestEffort = false): Promise<void> {
    const directories = [...this.#deferred.values()].sort((a, b) => b.depth - a.depth);
    for (const directory of directories) {
      try {
        const info = await Deno.lstat(directory.path);
        if (!info.isDirectory) continue;
        if (!WINDOWS) await Deno.chmod(directory.path, directory.mode);
        await Deno.utime(directory.path, directory.mtime, directory.mtime);
      } catch (error) {
        if (!bestEffort) throw error;
      }
    }
  }
}
