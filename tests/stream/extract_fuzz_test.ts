/**
 * Seeded fuzz tests of `extractTar`: random safe archives must extract
 * exactly; hostile ones (absolute names, `..`, links pointing out or
 * chained, writes through links, duplicates, huge sizes and counts,
 * damaged bytes) must never put anything outside the destination, never
 * leave a link inside it that leads out, and fail only with `DockerError`s.
 *
 * Each case extracts into `dest` inside a fresh parent directory, which must
 * hold nothing but `dest` afterwards. A failure names the seed, the case
 * and its archive: rerun with `BERTH_FUZZ_SEED=<seed>` to reproduce it,
 * `BERTH_FUZZ_CASES=<n>` for n times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerError } from "../../src/errors.ts";
import {
  type ExtractLinkPolicy,
  extractTar,
  type ExtractTarOptions,
  UnsafeArchiveError,
} from "../../src/stream/extract.ts";
import { type TarEntry, tarStream } from "../../src/stream/tar.ts";
import { assertTyped, fuzz, fuzzCases, mutate, type Note, type Random } from "../_fuzz.ts";
import { collect, concat, END, padded, paxHeader, rawHeader } from "./_tar.ts";

const encoder = new TextEncoder();
/** The name escapes are given, so that one outside the temp dirs would be found. */
const MARK = "berth-fuzz-escaped";
const TMP = Deno.env.get("TMPDIR") ?? "/tmp";

// ---------------------------------------------------------------------------
// Case runner and file system helpers
// ---------------------------------------------------------------------------

/** A case's sandbox: `parent` (a fresh directory under `base`) and `dest` inside it. */
interface Sandbox {
  base: string;
  parent: string;
  dest: string;
}

/**
 * Runs `count` cases as {@linkcode fuzz} does, each with a fresh parent
 * directory (removed afterwards, whatever happens); a failure names the
 * archive the case noted.
 *
 * @param count How many cases.
 * @param run One case.
 */
async function fuzzInSandbox(
  count: number,
  run: (random: Random, box: Sandbox, note: Note) => Promise<void>,
): Promise<void> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "berth_extract_fuzz_" }));
  try {
    await fuzz(count, async (random, note, index) => {
      const parent = `${base}/case-${index}`;
      await Deno.mkdir(parent);
      try {
        await run(random, { base, parent, dest: `${parent}/dest` }, note);
      } finally {
        await unlock(parent);
        await Deno.remove(parent, { recursive: true });
      }
    }, "archive");
  } finally {
    await unlock(base);
    await Deno.remove(base, { recursive: true });
    await Deno.remove(`${TMP}/${MARK}`, { recursive: true }).catch(() => {});
  }
}

/** Gives the owner full access to `dir` and every directory below it (links not followed). */
async function unlock(dir: string): Promise<void> {
  await Deno.chmod(dir, 0o700);
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) await unlock(`${dir}/${entry.name}`);
  }
}

/** Names in `dir`, sorted. */
async function list(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Every path below `dir` (relative, links not followed) with its `lstat`. */
async function walk(dir: string, prefix = ""): Promise<[string, Deno.FileInfo][]> {
  const out: [string, Deno.FileInfo][] = [];
  for await (const entry of Deno.readDir(dir)) {
    const relative = `${prefix}${entry.name}`;
    const info = await Deno.lstat(`${dir}/${entry.name}`);
    out.push([relative, info]);
    if (info.isDirectory) out.push(...(await walk(`${dir}/${entry.name}`, `${relative}/`)));
  }
  return out;
}

/**
 * Checks the one rule that matters: nothing outside `dest`. The parent
 * holds only `dest` and the base only the parent; no symlink in `dest` is
 * absolute, climbs out lexically or (unless `trusted` links lead out)
 * resolves outside; every hard-linked file has all its links in `dest`.
 */
async function assertContained(box: Sandbox, trusted: Map<string, string>): Promise<void> {
  assert.deepEqual(await list(box.parent), ["dest"], "the parent holds only dest");
  assert.deepEqual(await list(box.base), [box.parent.slice(box.base.length + 1)], "the base");
  await assert.rejects(Deno.lstat(`${TMP}/${MARK}`), Deno.errors.NotFound, `${TMP}/${MARK}`);
  let exists = true;
  await Deno.lstat(box.dest).catch(() => exists = false);
  if (!exists) return;
  await unlock(box.dest);
  const links = new Map<number, number>();
  for (const [path, info] of await walk(box.dest)) {
    if (info.isFile && info.nlink !== null && info.nlink > 1) {
      links.set(info.ino!, (links.get(info.ino!) ?? 0) + 1);
    }
    if (!info.isSymlink) continue;
    const target = await Deno.readLink(`${box.dest}/${path}`);
    if (trusted.get(path) === target) continue;
    assert.ok(!target.startsWith("/"), `symlink ${path} -> ${target} is absolute`);
    const resolved = path.split("/").slice(0, -1);
    for (const part of target.split("/")) {
      if (part === "" || part === ".") continue;
      if (part !== "..") resolved.push(part);
      else {
        assert.ok(resolved.length > 0, `symlink ${path} -> ${target} climbs out`);
        resolved.pop();
      }
    }
    if (trusted.size > 0) continue; // a trusted link may lead out; chains through it would too
    let real: string | null = null;
    try {
      real = await Deno.realPath(`${box.dest}/${path}`);
    } catch {
      // dangling or a loop: the lexical check above is what can be said
    }
    if (real !== null) {
      assert.ok(
        real === box.dest || real.startsWith(`${box.dest}/`),
        `symlink ${path} -> ${target} resolves to ${real}`,
      );
    }
  }
  for (const [path, info] of await walk(box.dest)) {
    if (info.isFile && info.nlink !== null && info.nlink > 1) {
      assert.equal(
        links.get(info.ino!),
        info.nlink,
        `${path} has ${info.nlink} links, not all of them in dest`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Hostile archives
// ---------------------------------------------------------------------------

// Few names, so that entries collide and go through each other's links.
const SEGMENTS = ["a", "a", "b", "d", "d", "l1", "l1", "l2", "l2", "pre", "..", ".", "", MARK];

/** A name meant to escape, collide or go through a link, or to be refused by the file system. */
function hostileName(random: Random, box: Sandbox): string {
  const roll = random.next();
  if (roll < 0.04) return "n".repeat(256 + random.int(100));
  if (roll < 0.06) return `${"d/".repeat(random.int(3))}${"x".repeat(300)}/f`;
  if (roll < 0.08) return `${box.dest}/../${MARK}`;
  const segments: string[] = [];
  for (let n = 1 + random.int(4); n > 0; n--) segments.push(random.pick(SEGMENTS));
  // Mostly names that pass the lexical checks, so that the links get made.
  const lead = random.next() < 0.85 ? "" : random.pick(["./", "/", "../", "//"]);
  let name = lead + segments.join("/");
  if (random.next() < 0.15) name += "/";
  return name;
}

/** A link target meant to point out, chain, or be empty. */
function hostileTarget(random: Random, box: Sandbox): string {
  return random.pick([
    "..",
    "../..",
    "../../..",
    "a",
    "l1",
    "l2",
    "l1/..",
    "a/../..",
    `./../${MARK}`,
    `../${MARK}`,
    "d/a",
    "",
    ".",
    "b/./a",
    "l2/a",
    "pre",
    "pre/x",
    MARK,
    `${box.base}/${MARK}`,
    box.parent,
    `${box.dest}/a`,
  ]);
}

/** Header blocks for one entry: a PAX header first when a name or target is over 100 bytes. */
function entryBlocks(
  name: string,
  typeflag: string,
  linkname: string,
  mode: number,
  data: Uint8Array,
  size = data.length,
): Uint8Array {
  const records: Record<string, string> = {};
  if (encoder.encode(name).length > 100) records.path = name;
  if (encoder.encode(linkname).length > 100) records.linkpath = linkname;
  const header = rawHeader({ name, typeflag, linkname, mode, size, mtime: 1_600_000_000 });
  const pax = Object.keys(records).length > 0 ? paxHeader("x", records) : new Uint8Array(0);
  return concat([pax, header, padded(data)]);
}

/** Every link policy, so that each meets the hostile archives. */
const POLICIES = ["within", "skip-outside", "skip", "reject"] as const;

/** A random hostile archive, and the options to extract it with. */
function hostileArchive(
  random: Random,
  box: Sandbox,
): { archive: Uint8Array; options: ExtractTarOptions } {
  const parts: Uint8Array[] = [];
  const count = random.next() < 0.1 ? 20 + random.int(40) : 1 + random.int(8);
  for (let n = 0; n < count; n++) {
    const typeflag = random.pick([
      "0",
      "0",
      "0",
      "5",
      "5",
      "2",
      "2",
      "1",
      "1",
      "6",
      "3",
      "\0",
      "7",
    ]);
    const name = hostileName(random, box);
    const linkname = typeflag === "1" || typeflag === "2" ? hostileTarget(random, box) : "";
    const mode = random.pick([0o644, 0o755, 0o000, 0o4755, 0o555, 0o777, 0o7777]);
    const headerOnly = "123456".includes(typeflag);
    const data = headerOnly ? new Uint8Array(0) : random.bytes(random.int(64));
    parts.push(entryBlocks(name, typeflag, linkname, mode, data));
  }
  if (random.next() < 0.1) {
    // A file declaring about 8 GiB that the archive does not have.
    parts.push(
      entryBlocks(hostileName(random, box), "0", "", 0o644, new Uint8Array(0), 8 ** 11 - 1),
    );
  }
  if (random.next() < 0.8) parts.push(END);
  let archive = concat(parts);
  if (random.next() < 0.1) archive = mutate(random, archive, [0, 0x2f, 0x2e, 0x30, 0x32, 0x35]);
  const options: ExtractTarOptions = {};
  if (random.next() < 0.3) options.overwrite = true;
  if (random.next() < 0.3) options.symlinks = random.pick(POLICIES);
  if (random.next() < 0.3) options.hardlinks = random.pick(POLICIES);
  if (random.next() < 0.15) options.maxEntries = random.int(6);
  if (random.next() < 0.15) options.maxTotalSize = random.int(200);
  return { archive, options };
}

/**
 * One hostile case: extracts a random hostile archive (with `links` as both
 * link policies when given) into a sandbox where dest may already exist,
 * and checks that nothing leads out.
 *
 * @param random The case's randomness.
 * @param box The case's sandbox.
 * @param note Records the archive for a failure's report.
 * @param links A link policy forced on both kinds of links.
 */
async function hostileCase(
  random: Random,
  box: Sandbox,
  note: Note,
  links?: ExtractLinkPolicy,
): Promise<void> {
  // Now and then dest exists, with a directory and a symlink (trusted,
  // pointing out) that the archive must not write through.
  const trusted = new Map<string, string>();
  if (random.next() < 0.4) {
    await Deno.mkdir(box.dest);
    if (random.next() < 0.5) await Deno.mkdir(`${box.dest}/a`);
    if (random.next() < 0.6) {
      const target = random.pick(["..", "../..", box.parent, box.base]);
      await Deno.symlink(target, `${box.dest}/pre`);
      trusted.set("pre", target);
    }
  }
  const { archive, options } = hostileArchive(random, box);
  if (links) {
    // Fewer failures before the links are made: no caps, and overwrite.
    options.symlinks = links;
    options.hardlinks = links;
    options.overwrite = true;
    delete options.maxEntries;
    delete options.maxTotalSize;
  }
  note(archive);
  let result;
  try {
    result = await extractTar(ReadableStream.from([archive]), box.dest, options);
  } catch (error) {
    assertTyped(error, "extractTar");
    // No policy left that fails on a link leading out: none does.
    if (
      ![options.symlinks, options.hardlinks].some((policy) => (policy ?? "within") === "within")
    ) {
      assert.ok(
        !(error instanceof UnsafeArchiveError && error.reason === "link-outside"),
        `${error} under ${JSON.stringify(options)}`,
      );
    }
  }
  if (result) {
    assert.ok(result.entries <= (options.maxEntries ?? Infinity), "maxEntries");
    assert.ok(result.bytes <= (options.maxTotalSize ?? Infinity), "maxTotalSize");
  }
  await assertContained(box, trusted);
}

Deno.test("extractTar never writes outside dest nor leaves a link leading out, for random hostile archives", async () => {
  await fuzzInSandbox(fuzzCases(200), (random, box, note) => hostileCase(random, box, note));
});

Deno.test("extractTar skip-outside never leaves a link leading out nor fails on one, for random hostile archives", async () => {
  await fuzzInSandbox(
    fuzzCases(300),
    (random, box, note) => hostileCase(random, box, note, "skip-outside"),
  );
});

Deno.test("extractTar reports a name the file system finds too long as a DockerError", async () => {
  const parent = await Deno.makeTempDir({ prefix: "berth_extract_fuzz_" });
  try {
    // One name too long for open, one for the lstat of a parent.
    for (const name of ["n".repeat(300), `d/${"x".repeat(300)}/f`]) {
      const archive = concat([entryBlocks(name, "0", "", 0o644, encoder.encode("x")), END]);
      await assert.rejects(
        extractTar(ReadableStream.from([archive]), `${parent}/dest`),
        (error: unknown) => {
          assert.ok(error instanceof DockerError, `got ${error}`);
          assert.match(error.message, /^Cannot extract into ".*": File name too long/);
          assert.equal((error.cause as { code?: string }).code, "ENAMETOOLONG");
          return true;
        },
      );
    }
    assert.deepEqual(await list(parent), ["dest"]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Safe archives
// ---------------------------------------------------------------------------

/** What a safe entry must look like once extracted. */
type Expected =
  | { kind: "file"; data: Uint8Array; mode: number; mtime: number }
  | { kind: "directory"; mode: number; mtime: number }
  | { kind: "symlink"; target: string }
  | { kind: "hardlink"; target: string };

/**
 * A random safe archive: directories, files, symlinks whose target stays
 * inside (dangling ones too), hard links to earlier files; every name
 * unique. Returns the entries and what each path must hold.
 */
function safeArchive(random: Random): { entries: TarEntry[]; expected: Map<string, Expected> } {
  const entries: TarEntry[] = [];
  const expected = new Map<string, Expected>();
  const directories: string[] = [""];
  const files: string[] = [];
  let serial = 0;
  const place = () => {
    const dir = random.pick(directories);
    return { dir, path: `${dir}${random.pick(["f", "d", "s", "é", "with space"])}${serial++}` };
  };
  for (let n = 1 + random.int(15); n > 0; n--) {
    const kind = random.pick(["file", "file", "directory", "symlink", "hardlink"] as const);
    const { dir, path } = place();
    const mtime = 1_000_000_000 + random.int(1e9);
    if (kind === "directory" || (kind === "hardlink" && files.length === 0)) {
      const mode = random.pick([0o755, 0o700, 0o750, 0o777]);
      entries.push({ name: path, type: "directory", mode, mtime });
      expected.set(path, { kind: "directory", mode, mtime });
      directories.push(`${path}/`);
    } else if (kind === "file") {
      const data = random.bytes(random.pick([0, random.int(100), random.int(3000), 70_000]));
      const mode = random.pick([0o644, 0o600, 0o755, 0o4755, 0o000, 0o444]);
      entries.push({ name: path, body: data, mode, mtime });
      expected.set(path, { kind: "file", data, mode: mode & 0o777, mtime });
      files.push(path);
    } else if (kind === "symlink") {
      const depth = dir.split("/").length - 1;
      const up = random.int(depth + 1);
      const rest = random.next() < 0.8 ? random.pick([...files, ...directories, "missing"]) : "";
      const target = `${"../".repeat(up)}${rest}`.replace(/\/$/, "") || ".";
      entries.push({ name: path, type: "symlink", linkname: target });
      expected.set(path, { kind: "symlink", target });
    } else {
      const target = random.pick(files);
      entries.push({ name: path, type: "hardlink", linkname: target });
      expected.set(path, { kind: "hardlink", target });
    }
  }
  return { entries, expected };
}

Deno.test("extractTar extracts random safe archives exactly: data, modes, times, links", async () => {
  await fuzzInSandbox(fuzzCases(40), async (random, box, note) => {
    const { entries, expected } = safeArchive(random);
    const archive = await collect(tarStream(entries));
    note(archive);
    // "skip-outside" creates every link "within" does: all of them here.
    const policy = random.pick(["within", "skip-outside"] as const);
    const result = await extractTar(ReadableStream.from([archive]), box.dest, {
      symlinks: policy,
      hardlinks: policy,
    });
    assert.equal(result.entries, entries.length);
    assert.equal(result.skipped, 0);
    const found = new Map(await walk(box.dest));
    assert.deepEqual([...found.keys()].sort(), [...expected.keys()].sort(), "the paths");
    for (const [path, want] of expected) {
      const info = found.get(path)!;
      const full = `${box.dest}/${path}`;
      if (want.kind === "file") {
        assert.ok(info.isFile, `${path} is a file`);
        assert.equal(info.mode! & 0o7777, want.mode, `${path} mode`);
        assert.equal(info.mtime!.getTime(), want.mtime * 1000, `${path} mtime`);
        await Deno.chmod(full, 0o600);
        const data = await Deno.readFile(full);
        assert.ok(
          data.length === want.data.length && data.every((byte, i) => byte === want.data[i]),
          `${path} data`,
        );
      } else if (want.kind === "directory") {
        assert.ok(info.isDirectory, `${path} is a directory`);
        assert.equal(info.mode! & 0o7777, want.mode, `${path} mode`);
        assert.equal(info.mtime!.getTime(), want.mtime * 1000, `${path} mtime`);
      } else if (want.kind === "symlink") {
        assert.ok(info.isSymlink, `${path} is a symlink`);
        assert.equal(await Deno.readLink(full), want.target, `${path} target`);
      } else {
        assert.equal(
          info.ino,
          found.get(want.target)!.ino,
          `${path} is a hard link of ${want.target}`,
        );
      }
    }
    await assertContained(box, new Map());
  });
});
