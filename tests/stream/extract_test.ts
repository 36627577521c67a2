import assert from "node:assert/strict";
import { DockerError, DockerProtocolError } from "../../src/errors.ts";
import {
  extractTar,
  type ExtractTarOptions,
  UnsafeArchiveError,
  type UnsafeArchiveReason,
} from "../../src/stream/extract.ts";
import { type TarEntry, tarStream } from "../../src/stream/tar.ts";
import { collect, concat, END, padded, pattern, rawHeader } from "./_tar.ts";

const MTIME = 1_600_000_000;

/** A temp dir with `dest/` and an `outside/` sibling that must stay empty. */
async function sandbox(): Promise<
  { base: string; dest: string; outside: string } & AsyncDisposable
> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "berth_extract_" }));
  await Deno.mkdir(`${base}/dest`);
  await Deno.mkdir(`${base}/outside`);
  return {
    base,
    dest: `${base}/dest`,
    outside: `${base}/outside`,
    [Symbol.asyncDispose]: async () => {
      // Undo read-only modes so the tree can be removed.
      await new Deno.Command("chmod", { args: ["-R", "u+rwx", base] }).output();
      await Deno.remove(base, { recursive: true });
    },
  };
}

async function list(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Everything under `dir`, as sorted relative paths. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    out.push(entry.isDirectory ? `${path}/` : path);
    if (entry.isDirectory) out.push(...(await tree(`${dir}/${entry.name}`, `${path}/`)));
  }
  return out.sort();
}

async function assertNothingOutside(box: { base: string; outside: string }): Promise<void> {
  assert.deepEqual(await list(box.outside), [], "the outside directory stays empty");
  assert.deepEqual(await list(box.base), ["dest", "outside"], "nothing lands next to dest");
}

async function assertRefused(
  promise: Promise<unknown>,
  reason: UnsafeArchiveReason,
  entryName?: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UnsafeArchiveError, `expected UnsafeArchiveError, got ${error}`);
    assert.ok(error instanceof DockerError);
    assert.equal(error.name, "UnsafeArchiveError");
    assert.equal(error.reason, reason, error.message);
    if (entryName !== undefined) assert.equal(error.entryName, entryName);
    return true;
  });
}

function extract(entries: TarEntry[], dest: string, options?: ExtractTarOptions) {
  return extractTar(tarStream(entries), dest, options);
}

Deno.test("extractTar extracts a tree with modes, times, symlinks and hard links", async () => {
  await using box = await sandbox();
  const result = await extract([
    { name: "app", type: "directory", mode: 0o750, mtime: MTIME },
    { name: "app/bin", type: "directory", mode: 0o555, mtime: MTIME + 1 },
    { name: "app/bin/run", body: "#!/bin/sh\n", mode: 0o4755, mtime: MTIME + 2 },
    { name: "app/data.bin", body: pattern(100_000), mode: 0o600, mtime: MTIME + 3 },
    { name: "app/empty", body: "", mtime: MTIME },
    { name: "app/nested/deep/file.txt", body: "deep", mtime: MTIME },
    { name: "app/link", type: "symlink", linkname: "data.bin" },
    { name: "app/nested/deep/up", type: "symlink", linkname: "../../bin/run" },
    { name: "app/hard", type: "hardlink", linkname: "app/data.bin" },
    { name: "./", type: "directory", mode: 0o700 },
    { name: "./app/./dotted", body: "dot", mtime: MTIME },
    { name: "app/x/../normalised", body: "n", mtime: MTIME },
  ], box.dest);
  assert.deepEqual(result, { entries: 12, bytes: 10 + 100_000 + 4 + 3 + 1, skipped: 0 });
  assert.deepEqual(await tree(box.dest), [
    "app/",
    "app/bin/",
    "app/bin/run",
    "app/data.bin",
    "app/dotted",
    "app/empty",
    "app/hard",
    "app/link",
    "app/nested/",
    "app/nested/deep/",
    "app/nested/deep/file.txt",
    "app/nested/deep/up",
    "app/normalised",
  ]);
  const mode = async (path: string) => (await Deno.lstat(`${box.dest}/${path}`)).mode! & 0o7777;
  assert.equal(await mode("app"), 0o750);
  assert.equal(await mode("app/bin"), 0o555);
  assert.equal(await mode("app/bin/run"), 0o755, "setuid is dropped");
  assert.equal(await mode("app/data.bin"), 0o600);
  assert.equal(await mode("app/empty"), 0o644);
  assert.notEqual((await Deno.stat(box.dest)).mode! & 0o777, 0o700, "dest keeps its own mode");
  const mtime = async (path: string) =>
    (await Deno.stat(`${box.dest}/${path}`)).mtime!.getTime() / 1000;
  assert.equal(await mtime("app"), MTIME);
  assert.equal(await mtime("app/bin"), MTIME + 1);
  assert.equal(await mtime("app/bin/run"), MTIME + 2);
  assert.equal(await mtime("app/data.bin"), MTIME + 3);
  assert.deepEqual(await Deno.readFile(`${box.dest}/app/data.bin`), pattern(100_000));
  assert.equal(await Deno.readLink(`${box.dest}/app/link`), "data.bin");
  assert.equal(await Deno.readTextFile(`${box.dest}/app/nested/deep/up`), "#!/bin/sh\n");
  assert.equal(
    (await Deno.stat(`${box.dest}/app/hard`)).ino,
    (await Deno.stat(`${box.dest}/app/data.bin`)).ino,
  );
  assert.equal(await Deno.readTextFile(`${box.dest}/app/dotted`), "dot");
  await assertNothingOutside(box);
});

Deno.test("extractTar creates dest and round-trips an archive made by GNU tar", async () => {
  await using box = await sandbox();
  await Deno.mkdir(`${box.base}/src/sub`, { recursive: true });
  await Deno.writeTextFile(`${box.base}/src/sub/a.txt`, "a");
  await Deno.symlink("sub/a.txt", `${box.base}/src/ln`);
  await Deno.writeFile(`${box.base}/src/big`, pattern(70_000));
  const made = await new Deno.Command("tar", {
    args: ["-cf", "-", "-C", `${box.base}/src`, "."],
    stdout: "piped",
  })
    .output();
  assert.ok(made.success);
  await Deno.remove(`${box.base}/src`, { recursive: true });
  const result = await extractTar(ReadableStream.from([made.stdout]), `${box.dest}/new/dir`);
  assert.equal(result.entries, 5);
  assert.deepEqual(await tree(`${box.dest}/new/dir`), ["big", "ln", "sub/", "sub/a.txt"]);
  assert.deepEqual(await Deno.readFile(`${box.dest}/new/dir/big`), pattern(70_000));
  assert.equal(await Deno.readTextFile(`${box.dest}/new/dir/ln`), "a");
});

for (
  const [label, name, reason] of [
    ["../evil", "../evil", "parent-traversal"],
    ["a/../../evil", "a/../../evil", "parent-traversal"],
    ["./../outside/evil", "./../outside/evil", "parent-traversal"],
    ["an absolute name into the outside dir", "ABSOLUTE", "absolute-path"],
    ["/etc-like absolute name", "/berth-should-not-exist/evil", "absolute-path"],
  ] as const
) {
  Deno.test(`extractTar refuses a file named ${label}`, async () => {
    await using box = await sandbox();
    const entryName = name === "ABSOLUTE" ? `${box.outside}/pwned` : name;
    await assertRefused(
      extract([{ name: "ok", body: "fine" }, { name: entryName, body: "pwned" }], box.dest),
      reason,
      entryName,
    );
    await assertNothingOutside(box);
    assert.deepEqual(await list(box.dest), ["ok"], "entries before the refused one stay");
  });
}

Deno.test("extractTar refuses directories and links with traversal names", async () => {
  await using box = await sandbox();
  await assertRefused(extract([{ name: "../d", type: "directory" }], box.dest), "parent-traversal");
  await assertRefused(
    extract([{ name: "../l", type: "symlink", linkname: "x" }], box.dest),
    "parent-traversal",
  );
  await assertRefused(
    extract([{ name: `${box.outside}/l`, type: "symlink", linkname: "x" }], box.dest),
    "absolute-path",
  );
  await assertNothingOutside(box);
});

Deno.test("extractTar refuses an absolute symlink, and never writes a later file through it", async () => {
  await using box = await sandbox();
  const entries: TarEntry[] = [
    { name: "link", type: "symlink", linkname: box.outside },
    { name: "link/pwned", body: "pwned" },
  ];
  await assertRefused(extract(entries, box.dest), "link-outside", "link");
  await assertNothingOutside(box);
  // With symlinks skipped, "link/" becomes a real directory inside dest.
  const result = await extract(entries, box.dest, { symlinks: "skip" });
  assert.deepEqual(result, { entries: 2, bytes: 5, skipped: 1 });
  assert.equal(await Deno.readTextFile(`${box.dest}/link/pwned`), "pwned");
  assert.ok((await Deno.lstat(`${box.dest}/link`)).isDirectory);
  await assertNothingOutside(box);
});

Deno.test("extractTar creates symlinks last: a symlink cannot redirect a later file", async () => {
  await using box = await sandbox();
  // "link -> sub" is inside dest, but were it created first, "link/file"
  // would be written through it. It is created after the files, so
  // "link/" is a real directory by then and the symlink is refused.
  await assertRefused(
    extract([
      { name: "sub", type: "directory" },
      { name: "link", type: "symlink", linkname: "sub" },
      { name: "link/file", body: "x" },
    ], box.dest),
    "exists",
    "link",
  );
  assert.ok((await Deno.lstat(`${box.dest}/link`)).isDirectory);
  assert.deepEqual(await list(`${box.dest}/sub`), []);
  await assertNothingOutside(box);
});

Deno.test("extractTar refuses to write through a symlink already in dest", async () => {
  await using box = await sandbox();
  await Deno.symlink(box.outside, `${box.dest}/pre`);
  await assertRefused(
    extract([{ name: "pre/pwned", body: "x" }], box.dest),
    "symlink-in-path",
    "pre/pwned",
  );
  await assertRefused(
    extract([{ name: "pre/a/b", type: "directory" }], box.dest),
    "symlink-in-path",
  );
  await assertRefused(extract([{ name: "pre", type: "directory" }], box.dest), "symlink-in-path");
  await assertRefused(
    extract([{ name: "pre/l", type: "symlink", linkname: "x" }], box.dest),
    "symlink-in-path",
  );
  await assertNothingOutside(box);
});

Deno.test("extractTar replaces a symlink instead of writing through it (overwrite)", async () => {
  await using box = await sandbox();
  await Deno.writeTextFile(`${box.outside}/target`, "original");
  await Deno.symlink(`${box.outside}/target`, `${box.dest}/f`);
  await assertRefused(extract([{ name: "f", body: "new" }], box.dest), "exists", "f");
  assert.equal(await Deno.readTextFile(`${box.outside}/target`), "original");
  await extract([{ name: "f", body: "new" }], box.dest, { overwrite: true });
  assert.equal(await Deno.readTextFile(`${box.outside}/target`), "original");
  assert.ok((await Deno.lstat(`${box.dest}/f`)).isFile);
  assert.equal(await Deno.readTextFile(`${box.dest}/f`), "new");
});

Deno.test("extractTar refuses symlinks that point out of dest", async () => {
  const cases: [string, string][] = [
    ["out", "../outside"],
    ["a/out", "../../outside/x"],
    ["a/b/out", "../../../x"],
    ["abs", "/etc/passwd"],
    ["dot", "./../x"],
    // "l -> ." is harmless, but "l/../x" through it would climb out of dest.
    ["evil", "l/../../x"],
    ["evil2", "l/../x"],
  ];
  for (const [name, linkname] of cases) {
    await using box = await sandbox();
    await assertRefused(
      extract(
        [{ name: "l", type: "symlink", linkname: "." }, { name, type: "symlink", linkname }],
        box.dest,
      ),
      "link-outside",
      name,
    );
    await assertNothingOutside(box);
  }
});

Deno.test("extractTar refuses hard links to files outside dest", async () => {
  for (const linkname of ["/etc/passwd", "../../../../etc/passwd", "../outside/x", "a/../../x"]) {
    await using box = await sandbox();
    await Deno.writeTextFile(`${box.outside}/x`, "secret");
    await assertRefused(
      extract(
        [{ name: "a", type: "directory" }, { name: "passwd", type: "hardlink", linkname }],
        box.dest,
      ),
      "link-outside",
      "passwd",
    );
    assert.deepEqual(await list(box.outside), ["x"]);
    assert.deepEqual(await list(box.dest), ["a"]);
  }
});

Deno.test("extractTar refuses hard links through or to symlinks", async () => {
  await using box = await sandbox();
  await Deno.writeTextFile(`${box.outside}/x`, "secret");
  await Deno.symlink(box.outside, `${box.dest}/pre`);
  await Deno.symlink(`${box.outside}/x`, `${box.dest}/prefile`);
  await assertRefused(
    extract([{ name: "h", type: "hardlink", linkname: "pre/x" }], box.dest),
    "symlink-in-path",
  );
  await assertRefused(
    extract([{ name: "h", type: "hardlink", linkname: "prefile" }], box.dest),
    "link-outside",
  );
  await assertRefused(
    extract([{ name: "h", type: "hardlink", linkname: "missing" }], box.dest),
    "link-outside",
  );
  assert.deepEqual(await list(box.dest), ["pre", "prefile"]);
  assert.deepEqual(await list(box.outside), ["x"]);
});

Deno.test("extractTar applies the skip and reject link policies", async () => {
  await using box = await sandbox();
  const entries: TarEntry[] = [
    { name: "f", body: "x" },
    { name: "s", type: "symlink", linkname: "f" },
    { name: "h", type: "hardlink", linkname: "f" },
  ];
  assert.deepEqual(await extract(entries, box.dest, { symlinks: "skip", hardlinks: "skip" }), {
    entries: 3,
    bytes: 1,
    skipped: 2,
  });
  assert.deepEqual(await list(box.dest), ["f"]);
  await assertRefused(
    extract(entries, box.dest, { symlinks: "reject", overwrite: true }),
    "link-refused",
    "s",
  );
  await assertRefused(
    extract(entries, box.dest, { hardlinks: "reject", overwrite: true }),
    "link-refused",
    "h",
  );
  await assert.rejects(extract(entries, box.dest, { symlinks: "follow" as "skip" }), TypeError);
});

Deno.test("extractTar enforces maxEntries", async () => {
  await using box = await sandbox();
  const entries: TarEntry[] = [{ name: "a", body: "1" }, { name: "b", body: "2" }, {
    name: "c",
    body: "3",
  }];
  await assertRefused(extract(entries, box.dest, { maxEntries: 2 }), "too-many-entries", "c");
  assert.deepEqual(await list(box.dest), ["a", "b"]);
  await assertNothingOutside(box);
});

Deno.test("extractTar enforces maxTotalSize before writing the entry that exceeds it", async () => {
  await using box = await sandbox();
  let cancelled = false;
  const archive = tarStream([{ name: "a", body: "12345" }, { name: "b", body: "123456" }, {
    name: "c",
    body: "x",
  }]);
  const reader = archive.getReader();
  const watched = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: async (reason) => {
      cancelled = true;
      await reader.cancel(reason);
    },
  });
  await assertRefused(extractTar(watched, box.dest, { maxTotalSize: 10 }), "too-large", "b");
  assert.deepEqual(await list(box.dest), ["a"]);
  assert.ok(cancelled, "the archive stream is cancelled on error");
  assert.deepEqual(
    await extract([{ name: "x", body: "1234567890" }], box.dest, { maxTotalSize: 10 }),
    {
      entries: 1,
      bytes: 10,
      skipped: 0,
    },
  );
});

Deno.test("extractTar skips devices and FIFOs and counts them", async () => {
  await using box = await sandbox();
  const bytes = concat([
    rawHeader({ name: "dev/null", typeflag: "3" }),
    rawHeader({ name: "dev/sda", typeflag: "4" }),
    rawHeader({ name: "fifo", typeflag: "6" }),
    rawHeader({ name: "f", size: 2 }),
    padded("ok"),
    END,
  ]);
  assert.deepEqual(await extractTar(ReadableStream.from([bytes]), box.dest), {
    entries: 4,
    bytes: 2,
    skipped: 3,
  });
  assert.deepEqual(await tree(box.dest), ["f"]);
});

Deno.test("extractTar refuses to replace existing files unless overwrite is set, and never a directory", async () => {
  await using box = await sandbox();
  await Deno.writeTextFile(`${box.dest}/f`, "old");
  await Deno.mkdir(`${box.dest}/d`);
  await assertRefused(extract([{ name: "f", body: "new" }], box.dest), "exists", "f");
  assert.equal(await Deno.readTextFile(`${box.dest}/f`), "old");
  await extract([{ name: "f", body: "new" }], box.dest, { overwrite: true });
  assert.equal(await Deno.readTextFile(`${box.dest}/f`), "new");
  await assertRefused(
    extract([{ name: "d", body: "x" }], box.dest, { overwrite: true }),
    "exists",
    "d",
  );
  await assertRefused(
    extract([{ name: "f/x", body: "x" }], box.dest, { overwrite: true }),
    "exists",
    "f/x",
  );
  // An existing directory is reused.
  await extract([{ name: "d", type: "directory" }, { name: "d/in", body: "in" }], box.dest);
  assert.equal(await Deno.readTextFile(`${box.dest}/d/in`), "in");
});

Deno.test("extractTar reports a truncated or corrupt archive and keeps what was written", async () => {
  await using box = await sandbox();
  const bytes = await collect(
    tarStream([{ name: "a", body: "aaa" }, { name: "b", body: pattern(2000) }]),
  );
  await assert.rejects(
    extractTar(ReadableStream.from([bytes.slice(0, 1024 + 512 + 700)]), box.dest),
    (error: unknown) => error instanceof DockerProtocolError && error.code === "PREMATURE_CLOSE",
  );
  assert.equal(await Deno.readTextFile(`${box.dest}/a`), "aaa");
  const corrupt = bytes.slice();
  corrupt[1024 + 3] = corrupt[1024 + 3]! ^ 1;
  await assert.rejects(
    extractTar(ReadableStream.from([corrupt]), box.dest, { overwrite: true }),
    (error: unknown) => error instanceof DockerProtocolError && error.code === "INVALID_TAR",
  );
});

Deno.test("extractTar refuses empty and NUL names, and checks its arguments", async () => {
  await using box = await sandbox();
  await assertRefused(
    extractTar(ReadableStream.from([rawHeader({ name: "./" }), END]), box.dest),
    "invalid-name",
  );
  await assert.rejects(extract([], ""), TypeError);
  await assert.rejects(extract([], box.dest, { maxEntries: -1 }), RangeError);
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(extract([{ name: "a" }], box.dest, { signal: controller.signal }), /stop/);
});

Deno.test("extractTar skip-outside creates symlinks that stay inside and skips the others", async () => {
  await using box = await sandbox();
  const entries: TarEntry[] = [
    { name: "usr/bin/vim.basic", body: "vim" },
    { name: "etc/alternatives", type: "directory" },
    // Absolute, as in a container's /etc/alternatives: skipped.
    { name: "etc/alternatives/vi", type: "symlink", linkname: "/usr/bin/vim.basic" },
    // Relative and inside: created, though it dangles once "vi" is skipped.
    { name: "usr/bin/vi", type: "symlink", linkname: "../../etc/alternatives/vi" },
    { name: "usr/bin/view", type: "symlink", linkname: "vim.basic" },
    { name: "esc", type: "symlink", linkname: "../outside" },
    { name: "usr/deep", type: "symlink", linkname: "../../outside/x" },
    { name: "l", type: "symlink", linkname: "." },
    { name: "evil", type: "symlink", linkname: "l/../../outside" },
    { name: "evil2", type: "symlink", linkname: "l/../x" },
    // A chain whose last link leads out: only that one is skipped.
    { name: "c1", type: "symlink", linkname: "c2" },
    { name: "c2", type: "symlink", linkname: "c3" },
    { name: "c3", type: "symlink", linkname: box.outside },
  ];
  await assertRefused(extract(entries, box.dest), "link-outside", "etc/alternatives/vi");
  await Deno.remove(box.dest, { recursive: true });
  const result = await extract(entries, box.dest, { symlinks: "skip-outside" });
  assert.deepEqual(result, { entries: 13, bytes: 3, skipped: 6 });
  assert.deepEqual(await tree(box.dest), [
    "c1",
    "c2",
    "etc/",
    "etc/alternatives/",
    "l",
    "usr/",
    "usr/bin/",
    "usr/bin/vi",
    "usr/bin/view",
    "usr/bin/vim.basic",
  ]);
  assert.equal(await Deno.readLink(`${box.dest}/usr/bin/vi`), "../../etc/alternatives/vi");
  assert.equal(await Deno.readTextFile(`${box.dest}/usr/bin/view`), "vim");
  assert.equal(await Deno.readLink(`${box.dest}/c1`), "c2");
  assert.equal(await Deno.readLink(`${box.dest}/c2`), "c3");
  await assert.rejects(Deno.stat(`${box.dest}/c1`), Deno.errors.NotFound, "c1 dangles");
  assert.equal(await Deno.realPath(`${box.dest}/l`), box.dest);
  await assertNothingOutside(box);
});

Deno.test("extractTar skip-outside keeps the other safety rules: no write through a link, links last", async () => {
  await using box = await sandbox();
  const options: ExtractTarOptions = { symlinks: "skip-outside", hardlinks: "skip-outside" };
  // The skipped link leaves nothing: "link/" becomes a real directory.
  assert.deepEqual(
    await extract(
      [
        { name: "link", type: "symlink", linkname: box.outside },
        { name: "link/pwned", body: "pwned" },
      ],
      box.dest,
      options,
    ),
    { entries: 2, bytes: 5, skipped: 1 },
  );
  assert.ok((await Deno.lstat(`${box.dest}/link`)).isDirectory);
  // A link inside is made last, so it cannot redirect a file: refused as with "within".
  await assertRefused(
    extract(
      [
        { name: "sub", type: "directory" },
        { name: "in", type: "symlink", linkname: "sub" },
        { name: "in/file", body: "x" },
      ],
      box.dest,
      options,
    ),
    "exists",
    "in",
  );
  // A link is never written through a symlink already in dest.
  await Deno.symlink(box.outside, `${box.dest}/pre`);
  await assertRefused(
    extract([{ name: "pre/s", type: "symlink", linkname: "x" }], box.dest, options),
    "symlink-in-path",
    "pre/s",
  );
  await assertRefused(
    extract(
      [{ name: "f", body: "f" }, { name: "pre/h", type: "hardlink", linkname: "f" }],
      box.dest,
      {
        ...options,
        overwrite: true,
      },
    ),
    "symlink-in-path",
    "pre/h",
  );
  // Names are still checked: only the target decides a skip.
  await assertRefused(
    extract([{ name: "../s", type: "symlink", linkname: "x" }], box.dest, options),
    "parent-traversal",
  );
  await assertNothingOutside(box);
});

Deno.test("extractTar skip-outside skips hard links whose target is not a regular file inside dest", async () => {
  await using box = await sandbox();
  await Deno.writeTextFile(`${box.outside}/x`, "secret");
  await Deno.symlink(box.outside, `${box.dest}/pre`);
  await Deno.symlink(`${box.outside}/x`, `${box.dest}/prefile`);
  const entries: TarEntry[] = [
    { name: "a/f", body: "data" },
    { name: "s", type: "symlink", linkname: "a/f" },
    { name: "h1", type: "hardlink", linkname: "/etc/passwd" },
    { name: "h2", type: "hardlink", linkname: "../outside/x" },
    { name: "h3", type: "hardlink", linkname: "a/../../outside/x" },
    { name: "h4", type: "hardlink", linkname: "pre/x" },
    { name: "h5", type: "hardlink", linkname: "prefile" },
    { name: "h6", type: "hardlink", linkname: "missing" },
    { name: "h7", type: "hardlink", linkname: "s" },
    { name: "h8", type: "hardlink", linkname: "a/f/x" },
    { name: "h9", type: "hardlink", linkname: "." },
    { name: "a/good", type: "hardlink", linkname: "a/f" },
  ];
  const result = await extract(entries, box.dest, { hardlinks: "skip-outside" });
  assert.deepEqual(result, { entries: 12, bytes: 4, skipped: 9 });
  assert.deepEqual(await tree(box.dest), ["a/", "a/f", "a/good", "pre", "prefile", "s"]);
  assert.equal(
    (await Deno.stat(`${box.dest}/a/good`)).ino,
    (await Deno.stat(`${box.dest}/a/f`)).ino,
  );
  assert.equal((await Deno.stat(`${box.outside}/x`)).nlink, 1, "no link to the outside file");
  assert.deepEqual(await list(box.outside), ["x"]);
  await assert.rejects(
    extract([{ name: "h", type: "hardlink", linkname: "a" }], box.dest, {
      hardlinks: "skip-outside" as "skip",
      symlinks: "outside" as "skip",
    }),
    (error: unknown) =>
      error instanceof TypeError && error.message.includes(`"skip-outside"`) &&
      error.message.includes(`symlinks`),
  );
});

Deno.test("extractTar keeps directories private while it runs and gives them their modes even on failure", async () => {
  await using box = await sandbox();
  const seen: number[] = [];
  const reader = tarStream([
    { name: "open", type: "directory", mode: 0o777, mtime: MTIME },
    { name: "open/f", body: "x".repeat(2000) },
    { name: "private", type: "directory", mode: 0o700, mtime: MTIME },
    { name: "private/key", body: "k", mode: 0o600 },
    { name: "../evil", body: "x" },
  ]).getReader();
  const watched = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const info = await Deno.lstat(`${box.dest}/open`).catch(() => null);
      if (info) seen.push(info.mode! & 0o777);
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  await assertRefused(extractTar(watched, box.dest), "parent-traversal", "../evil");
  assert.ok(seen.length > 0 && seen.every((mode) => mode === 0o700), `modes seen: ${seen}`);
  const info = async (path: string) => await Deno.lstat(`${box.dest}/${path}`);
  assert.equal((await info("open")).mode! & 0o777, 0o777, "the archive's mode, after the failure");
  assert.equal((await info("private")).mode! & 0o777, 0o700);
  assert.equal((await info("open")).mtime!.getTime(), MTIME * 1000);
  assert.equal((await info("private")).mtime!.getTime(), MTIME * 1000);
  await assertNothingOutside(box);
});
