/**
 * Tests of the sending side of fsutil's DiffCopy (`sendDirectory`), driven
 * by a fake receiver (`_filesync_helpers.ts`): what is sent (STATs in order,
 * file data on REQ) and what excludes, include patterns and follow paths
 * leave out.
 */

import assert from "node:assert/strict";
import { DockerignoreMatcher } from "../../src/build/dockerignore.ts";
import {
  CHUNK,
  FIN,
  has,
  indexes,
  MODE_DIR,
  MODE_SETGID,
  MODE_SETUID,
  MODE_STICKY,
  MODE_SYMLINK,
  modTimeOf,
  packet,
  pathsOf,
  randomBytes,
  REQ,
  STAT,
  statsOf,
  transfer,
  withTree,
  write,
} from "./_filesync_helpers.ts";

Deno.test("sendDirectory sends one STAT per entry, depth-first in byte order, then an empty STAT", async () => {
  await withTree(async (root) => {
    await write(root, "B", "upper\n");
    await write(root, "a/b", "ab\n");
    await write(root, "a/c/d", "deep\n");
    await write(root, "a.txt", "a dot txt\n");
    await write(root, "z", "zed\n");
    await write(root, "é", "e acute\n");
    await write(root, "\uff61", "halfwidth stop\n"); // U+FF61: EF BD A1 in UTF-8
    await write(root, "\u{1f600}", "emoji\n"); // U+1F600: F0 9F 98 80, D83D DE00 in UTF-16
    await write(root, "hard1", "twice linked\n", 0o600);
    await Deno.link(`${root}/hard1`, `${root}/hard2`);
    await write(root, "private", "secret\n", 0o600);
    await write(root, "suid", "#!/bin/sh\n", 0o4755);
    await Deno.mkdir(`${root}/empty`);
    await Deno.mkdir(`${root}/shared`);
    await Deno.chmod(`${root}/shared`, 0o3777); // setgid and sticky
    await Deno.symlink("a.txt", `${root}/link`);
    for (const dir of ["a", "a/c", "empty"]) await Deno.chmod(`${root}/${dir}`, 0o755);
    await Deno.utime(`${root}/a.txt`, new Date(1_600_000_000_000), new Date(1_700_000_000_123));

    const { receiver, done } = transfer({ root });
    const stats = await receiver.stats();
    receiver.push(packet(FIN));
    const summary = await done;

    assert.deepEqual(stats.map((stat) => stat.path), [
      "B",
      "a",
      "a/b",
      "a/c",
      "a/c/d",
      "a.txt",
      "empty",
      "hard1",
      "hard2",
      "link",
      "private",
      "shared",
      "suid",
      "z",
      "é",
      "\uff61",
      "\u{1f600}",
    ]);
    const byPath = new Map(stats.map((stat) => [stat.path, stat]));
    const stat = (path: string) => byPath.get(path)!;

    // Go os.FileMode bits: type bits and permissions.
    assert.equal(stat("B").mode, 0o644);
    assert.equal(stat("a").mode, MODE_DIR + 0o755);
    assert.equal(stat("a/c").mode, MODE_DIR + 0o755);
    assert.equal(stat("empty").mode, MODE_DIR + 0o755);
    assert.equal(stat("private").mode, 0o600);
    assert.equal(stat("suid").mode, MODE_SETUID + 0o755);
    assert.equal(stat("shared").mode, MODE_DIR + MODE_SETGID + MODE_STICKY + 0o777);
    assert.equal(stat("link").mode, MODE_SYMLINK + 0o777);
    assert.ok(has(stat("link").mode, MODE_SYMLINK) && !has(stat("link").mode, MODE_DIR));

    // Sizes: files their length, directories none, a symlink its target's length.
    assert.equal(stat("B").size, 6);
    assert.equal(stat("a/c/d").size, 5);
    assert.equal(stat("a.txt").size, 10);
    assert.ok(!stat("a").present.includes(5), "a directory has no size");
    assert.equal(stat("link").linkname, "a.txt");
    assert.equal(stat("link").size, "a.txt".length);

    // Hard links: the second name points at the first and has no size.
    assert.equal(stat("hard1").linkname, "");
    assert.equal(stat("hard1").size, 13);
    assert.equal(stat("hard1").mode, 0o600);
    assert.equal(stat("hard2").linkname, "hard1");
    assert.equal(stat("hard2").size, 0);
    assert.equal(stat("hard2").mode, 0o600);

    // modTime: the mtime in whole milliseconds, in nanoseconds.
    assert.equal(stat("a.txt").modTime, Number(1_700_000_000_123n * 1_000_000n));
    for (const entry of stats) {
      assert.equal(entry.modTime, await modTimeOf(`${root}/${entry.path}`), entry.path);
      // uid and gid go as 0 (left out), and no device numbers.
      for (const field of [3, 4, 8, 9]) assert.ok(!entry.present.includes(field), entry.path);
      assert.equal(entry.present.includes(7), entry.linkname !== "", entry.path);
    }

    // Each directory comes before what it holds, and its contents right after it.
    for (const [i, entry] of stats.entries()) {
      const slash = entry.path.lastIndexOf("/");
      if (slash === -1) continue;
      const parent = entry.path.slice(0, slash);
      const at = stats.findIndex((other) => other.path === parent);
      assert.ok(at !== -1 && at < i, `${parent} before ${entry.path}`);
      assert.ok(stats.slice(at + 1, i).every((other) => other.path.startsWith(`${parent}/`)));
    }

    // The empty STAT is an empty message right after the last entry, then FIN.
    assert.deepEqual(receiver.packets.map((p) => p.type), [...stats.map(() => STAT), STAT, FIN]);
    assert.deepEqual(receiver.packets[stats.length], {
      type: STAT,
      id: 0,
      stat: undefined,
      data: new Uint8Array(0),
    });
    assert.deepEqual(summary, { entries: stats.length, files: 0, bytes: 0 });
  });
});

Deno.test("sendDirectory answers REQ with the file in DATA packets and an empty DATA", async (t) => {
  await withTree(async (root) => {
    const big = randomBytes(100 * 1024);
    await write(root, "0big.bin", big); // index 0: a REQ without its ID field
    await write(root, "empty.txt", "");
    await write(root, "exact.bin", big.subarray(0, CHUNK));
    await write(root, "small.txt", "small\n");
    await Deno.link(`${root}/small.txt`, `${root}/small2.txt`);

    const { receiver, done } = transfer({ root });
    const index = indexes(await receiver.stats());
    const id = (path: string) => index.get(path)!;
    assert.equal(id("0big.bin"), 0);

    await t.step(
      "a 100 KiB file comes back byte for byte in chunks of at most 32 KiB",
      async () => {
        receiver.push(packet(REQ, 0));
        await receiver.untilEnd(0);
        const { chunks, bytes } = receiver.file(0);
        assert.deepEqual(bytes, big);
        assert.ok(chunks.every((n) => n <= CHUNK), `chunks ${chunks}`);
        assert.ok(chunks.length >= 4);
      },
    );

    await t.step("a file of exactly one chunk: one DATA, then the empty one", async () => {
      receiver.push(packet(REQ, id("exact.bin")));
      await receiver.untilEnd(id("exact.bin"));
      const { chunks, bytes } = receiver.file(id("exact.bin"));
      assert.deepEqual(chunks, [CHUNK]);
      assert.deepEqual(bytes, big.subarray(0, CHUNK));
    });

    await t.step("an empty file: only the empty DATA", async () => {
      receiver.push(packet(REQ, id("empty.txt")));
      await receiver.untilEnd(id("empty.txt"));
      assert.deepEqual(receiver.file(id("empty.txt")).chunks, []);
    });

    await t.step("a hard link's second name: only the empty DATA", async () => {
      receiver.push(packet(REQ, id("small2.txt")));
      await receiver.untilEnd(id("small2.txt"));
      assert.deepEqual(receiver.file(id("small2.txt")).chunks, []);
    });

    await t.step("the hard link's first name has the data", async () => {
      receiver.push(packet(REQ, id("small.txt")));
      await receiver.untilEnd(id("small.txt"));
      assert.equal(new TextDecoder().decode(receiver.file(id("small.txt")).bytes), "small\n");
    });

    await t.step("FIN: FIN back, last, and what was sent", async () => {
      receiver.push(packet(FIN));
      const summary = await done;
      assert.deepEqual(summary, {
        entries: 5,
        files: 5,
        bytes: big.length + CHUNK + "small\n".length,
      });
      const last = receiver.packets.at(-1)!;
      assert.deepEqual(last, { type: FIN, id: 0, stat: undefined, data: new Uint8Array(0) });
      assert.equal(receiver.packets.filter((p) => p.type === FIN).length, 1);
    });
  });
});

Deno.test("sendDirectory leaves out what the directory's excludes leave out", async (t) => {
  await withTree(async (root) => {
    await write(root, "keep.txt", "keep\n");
    await write(root, "scratch.tmp", "tmp\n");
    await write(root, "build/out.bin", "out\n");
    await write(root, "build/deep/more.bin", "more\n");
    await write(root, "dir/keep", "kept\n");
    await write(root, "dir/other", "dropped\n");
    await write(root, "dir/sub/x", "dropped\n");
    await write(root, "nested/n.txt", "n\n");
    const all = [
      "build",
      "build/deep",
      "build/deep/more.bin",
      "build/out.bin",
      "dir",
      "dir/keep",
      "dir/other",
      "dir/sub",
      "dir/sub/x",
      "keep.txt",
      "nested",
      "nested/n.txt",
      "scratch.tmp",
    ];

    await t.step("a DockerignoreMatcher: an excluded dir and *.tmp are left out", async () => {
      const excludes = new DockerignoreMatcher(["build", "*.tmp"]);
      assert.deepEqual(await pathsOf({ root, excludes }), [
        "dir",
        "dir/keep",
        "dir/other",
        "dir/sub",
        "dir/sub/x",
        "keep.txt",
        "nested",
        "nested/n.txt",
      ]);
    });

    await t.step("an excluded dir with an exception: the dir, and only the exception", async () => {
      const excludes = new DockerignoreMatcher(["dir", "!dir/keep"]);
      const { stats } = await statsOf({ root, excludes });
      assert.deepEqual(stats.map((stat) => stat.path), [
        "build",
        "build/deep",
        "build/deep/more.bin",
        "build/out.bin",
        "dir",
        "dir/keep",
        "keep.txt",
        "nested",
        "nested/n.txt",
        "scratch.tmp",
      ]);
      assert.ok(has(stats[4]!.mode, MODE_DIR), "dir is sent as a directory");
    });

    await t.step("the directory's excludes win over the request's", async () => {
      const excludes = new DockerignoreMatcher(["*.tmp"]);
      const paths = await pathsOf({ root, excludes }, { excludes: ["build", "nested"] });
      assert.deepEqual(paths, all.filter((path) => path !== "scratch.tmp"));
    });

    await t.step("excludes null: the request's excludes are ignored", async () => {
      const paths = await pathsOf({ root, excludes: null }, { excludes: ["build", "*.tmp"] });
      assert.deepEqual(paths, all);
    });

    await t.step("excludes null with overrideExcludes: the request's excludes apply", async () => {
      const paths = await pathsOf(
        { root, excludes: null },
        { excludes: ["build", "*.tmp"], overrideExcludes: true },
      );
      assert.deepEqual(paths, all.filter((path) => !/^build|\.tmp$/.test(path)));
    });

    await t.step("a matcher with overrideExcludes: the request's excludes replace it", async () => {
      const excludes = new DockerignoreMatcher(["*.tmp"]);
      const paths = await pathsOf(
        { root, excludes },
        { excludes: ["nested"], overrideExcludes: true },
      );
      assert.deepEqual(paths, all.filter((path) => !path.startsWith("nested")));
    });

    await t.step("excludes left out: the request's excludes apply", async () => {
      const paths = await pathsOf({ root }, { excludes: ["build", "*.tmp", "dir", "!dir/keep"] });
      assert.deepEqual(paths, ["dir", "dir/keep", "keep.txt", "nested", "nested/n.txt"]);
    });

    await t.step("excludes left out, none requested: everything", async () => {
      assert.deepEqual(await pathsOf({ root }), all);
      assert.deepEqual(await pathsOf({ root }, { excludes: [] }), all);
    });
  });
});

Deno.test("sendDirectory sends only what the include patterns and follow paths name", async (t) => {
  await withTree(async (root) => {
    await write(root, "sub/x.txt", "x\n");
    await write(root, "sub/y.txt", "y\n");
    await write(root, "sub/deep/z.md", "z\n");
    await write(root, "top.txt", "top\n");
    await write(root, "other.md", "other\n");
    await write(root, "docker/real.Dockerfile", "FROM scratch\n");
    await write(root, "docker/other.txt", "not followed\n");
    await Deno.symlink("docker/real.Dockerfile", `${root}/Dockerfile`);
    await Deno.symlink("docker", `${root}/cfg`);
    const directory = { root, excludes: null };

    await t.step("a file's path: its parent directory, then the file", async () => {
      assert.deepEqual(await pathsOf(directory, { includes: ["sub/x.txt"] }), [
        "sub",
        "sub/x.txt",
      ]);
    });

    await t.step("a directory's path: all below it", async () => {
      assert.deepEqual(await pathsOf(directory, { includes: ["sub"] }), [
        "sub",
        "sub/deep",
        "sub/deep/z.md",
        "sub/x.txt",
        "sub/y.txt",
      ]);
      assert.deepEqual(await pathsOf(directory, { includes: ["./sub/"] }), [
        "sub",
        "sub/deep",
        "sub/deep/z.md",
        "sub/x.txt",
        "sub/y.txt",
      ]);
    });

    await t.step("globs match one segment each", async () => {
      assert.deepEqual(await pathsOf(directory, { includes: ["*.txt"] }), ["top.txt"]);
      assert.deepEqual(await pathsOf(directory, { includes: ["sub/*.txt"] }), [
        "sub",
        "sub/x.txt",
        "sub/y.txt",
      ]);
      assert.deepEqual(await pathsOf(directory, { includes: ["s*/d*"] }), [
        "sub",
        "sub/deep",
        "sub/deep/z.md",
      ]);
      assert.deepEqual(await pathsOf(directory, { includes: ["s?b/[xz].txt", "other.md"] }), [
        "other.md",
        "sub",
        "sub/x.txt",
      ]);
    });

    await t.step("includes and excludes together", async () => {
      const paths = await pathsOf({ root }, { includes: ["sub"], excludes: ["sub/deep"] });
      assert.deepEqual(paths, ["sub", "sub/x.txt", "sub/y.txt"]);
    });

    await t.step("a followed path that is a symlink brings its target", async () => {
      assert.deepEqual(await pathsOf(directory, { followPaths: ["Dockerfile"] }), [
        "Dockerfile",
        "docker",
        "docker/real.Dockerfile",
      ]);
    });

    await t.step("a symlinked directory on the way is followed too", async () => {
      assert.deepEqual(await pathsOf(directory, { followPaths: ["cfg/other.txt"] }), [
        "cfg",
        "docker",
        "docker/other.txt",
      ]);
    });

    await t.step("follow paths add to the include patterns", async () => {
      const paths = await pathsOf(directory, {
        includes: ["top.txt"],
        followPaths: ["Dockerfile"],
      });
      assert.deepEqual(paths, ["Dockerfile", "docker", "docker/real.Dockerfile", "top.txt"]);
    });
  });
});
