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
 * inside the destination; devices and FIFOs are skipped; entry count and
 * total size are capped.
 *
 * @module
 */

import { fileSystemError } from "../_messages.ts";
import { DockerError } from "../errors.ts";
import { readTar, type TarReaderEntry } from "./tar.ts";

// Re-exported so that this module's public types are complete on their own.
export { DockerError };

/**
 * What to do with symlinks or hard links in the archive: `"within"` creates
 * those whose target stays inside the destination and throws
 * {@linkcode UnsafeArchiveError} for the others, `"skip"` creates none (they
 * are counted in `skipped`), `"reject"` throws at the first one.
 */
export type ExtractLinkPolicy = "within" | "skip" | "reject";

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
   * Entries not created: devices, FIFOs and other special kinds, and links
   * under the `"skip"` policy.
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
  /** A link's target is absolute, climbs out of the destination, or (hard link) is not a regular file. */
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
 * On error, the archive stream is cancelled and what was written before the
 * failing entry stays in place (nothing is rolled back); nothing is ever
 * written outside `dest`. Existing contents of `dest` are trusted except
 * that symlinks among them are never written through; `dest` must not be
 * modified concurrently by someone untrusted (path checks and writes are not
 * atomic). Requires `--allow-read` and `--allow-write` on `dest`.
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
 *   `dest`; no space; ...), with the original error as `cause`.
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
    if (value !== "within" && value !== "skip" && value !== "reject") {
      throw new TypeError(
        `extractTar: ${key}s must be "within", "skip" or "reject" (got ${JSON.stringify(value)})`,
      );
    }
  }
  const signal = options.signal;
  signal?.throwIfAborted();

  const reader = readTar(stream, { maxEntries: Infinity }).getReader();
  const result: ExtractTarResult = { entries: 0, bytes: 0, skipped: 0 };
  try {
    await Deno.mkdir(dest, { recursive: true });
    const root = await Deno.realPath(dest);
    const extractor = new Extractor(root, overwrite, signal);
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
          let target: string[] = [];
          if (entry.type === "symlink") {
            checkSymlinkTarget(entry, segments);
          } else {
            if (entry.linkname.startsWith("/")) {
              throw refuse(
                entry,
                "link-outside",
                `the hard link target ${JSON.stringify(entry.linkname)} is absolute`,
              );
            }
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
          }
          links.push({ entry, segments, target });
          break;
        }
        default:
          result.skipped++;
      }
      await entry.body.cancel().catch(() => {});
    }
    for (const link of links) if (link.entry.type === "hardlink") await extractor.hardlink(link);
    for (const link of links) if (link.entry.type === "symlink") await extractor.symlink(link);
    await extractor.finishDirectories();
    return result;
  } catch (error) {
    await reader.cancel(error).catch(() => {});
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
  /** Relative paths known to be real directories (created or checked). */
  readonly #directories = new Set<string>();
  /** Directory modes and times, applied at the end. */
  readonly #deferred = new Map<string, DeferredDirectory>();

  constructor(root: string, overwrite: boolean, signal: AbortSignal | undefined) {
    this.#root = root;
    this.#overwrite = overwrite;
    this.#signal = signal;
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
      if (info === null) await Deno.mkdir(path, { mode: 0o755 });
      this.#directories.add(relative);
    }
    this.#deferred.set(relative, {
      path,
      depth: segments.length,
      mode: entry.mode & 0o777,
      mtime: entry.mtime,
    });
  }

  async hardlink(link: DeferredLink): Promise<void> {
    const { entry, segments, target } = link;
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
    if (target.join("/") === segments.join("/")) return; // a link to itself: already there
    await this.#parents(entry, segments, true);
    const path = this.#path(segments);
    await this.#clear(entry, path);
    await Deno.link(targetPath, path);
  }

  async symlink(link: DeferredLink): Promise<void> {
    const { entry, segments } = link;
    await this.#parents(entry, segments, true);
    const path = this.#path(segments);
    await this.#clear(entry, path);
    await Deno.symlink(entry.linkname, path);
  }

  async finishDirectories(): Promise<void> {
    const directories = [...this.#deferred.values()].sort((a, b) => b.depth - a.depth);
    for (const directory of directories) {
      const info = await Deno.lstat(directory.path);
      if (!info.isDirectory) continue;
      if (!WINDOWS) await Deno.chmod(directory.path, directory.mode);
      await Deno.utime(directory.path, directory.mtime, directory.mtime);
    }
  }
}
