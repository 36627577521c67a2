/**
 * Tests of the sending side of fsutil's DiffCopy (`sendDirectory`), driven
 * by a fake receiver (`_filesync_helpers.ts`): failures, files that change
 * while sent, FIFOs, devices and sockets, parent directories, and the walk
 * ending with the call.
 */

import assert from "node:assert/strict";
import { DockerignoreMatcher } from "../../src/build/dockerignore.ts";
import { SyncError, type SyncRequest } from "../../src/build/filesync.ts";
import { canMknod, command, makeDevices } from "./_special_files.ts";
import {
  DATA,
  ERR,
  FIN,
  has,
  indexes,
  MODE_CHAR_DEVICE,
  MODE_DEVICE,
  MODE_NAMED_PIPE,
  MODE_SOCKET,
  modTimeOf,
  packet,
  pathsOf,
  randomBytes,
  REQ,
  statsOf,
  transfer,
  withTree,
  write,
} from "./_filesync_helpers.ts";

Deno.test("sendDirectory fails the transfer with the reason", async (t) => {
  await withTree(async (root) => {
    await write(root, "a.txt", "aaaa\n");
    await write(root, "dir/b.txt", "bbbb\n");

    /** A transfer whose STATs were all sent: the receiver and the indexes. */
    const started = async (request: SyncRequest = {}) => {
      const { receiver, done } = transfer({ root }, request);
      const index = indexes(await receiver.stats());
      return { receiver, done, index };
    };

    await t.step("ERR from the receiver: a SyncError with its message", async () => {
      const { receiver, done } = await started();
      receiver.push(packet(ERR, 0, "no space left on device"));
      await assert.rejects(done, (error: unknown) => {
        assert.ok(error instanceof SyncError);
        assert.equal(error.name, "SyncError");
        assert.match(error.message, /no space left on device/);
        return true;
      });
      assert.ok(!receiver.packets.some((p) => p.type === FIN), "no FIN after ERR");
    });

    await t.step("a REQ for a directory, or past the entries: invalid", async () => {
      for (const id of [1, 99]) {
        const { receiver, done, index } = await started();
        assert.equal(index.get("dir"), 1);
        receiver.push(packet(REQ, id));
        await assert.rejects(done, new SyncError(`invalid file request ${id}`));
      }
    });

    await t.step("a REQ for a symlink: invalid", async () => {
      await Deno.symlink("a.txt", `${root}/link`);
      try {
        const { receiver, done, index } = await started();
        receiver.push(packet(REQ, index.get("link")!));
        await assert.rejects(done, new SyncError(`invalid file request ${index.get("link")}`));
      } finally {
        await Deno.remove(`${root}/link`);
      }
    });

    await t.step("the same file asked for twice: invalid", async () => {
      const { receiver, done, index } = await started();
      const id = index.get("dir/b.txt")!;
      receiver.push(packet(REQ, id));
      receiver.push(packet(REQ, id));
      await assert.rejects(done, new SyncError(`invalid file request ${id}`));
      assert.equal(new TextDecoder().decode(receiver.file(id).bytes), "bbbb\n");
    });

    await t.step("a REQ for a file the include patterns left out: invalid", async () => {
      const { receiver, done, index } = await started({ includes: ["dir"] });
      assert.deepEqual([...index.keys()], ["dir", "dir/b.txt"]);
      receiver.push(packet(REQ, 2));
      await assert.rejects(done, new SyncError("invalid file request 2"));
    });

    await t.step("a STAT from the receiver: unexpected", async () => {
      const { receiver, done } = await started();
      receiver.push(new Uint8Array(0));
      await assert.rejects(done, SyncError);
    });

    await t.step("the messages end before FIN", async () => {
      const { receiver, done } = await started();
      receiver.end();
      await assert.rejects(done, /ended the transfer before it finished/);
      assert.deepEqual(receiver.stops, []);
    });

    await t.step(
      "a root that does not exist: stop is called, and rejects with the error",
      async () => {
        const { receiver, done } = transfer({ root: `${root}/missing` });
        const error = await done.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
        assert.ok(error instanceof Deno.errors.NotFound, String(error));
        assert.deepEqual(receiver.stops, [error]);
        assert.deepEqual(receiver.packets, [], "no STAT at all");
      },
    );

    await t.step("a root that is a file: stop is called, and rejects with the error", async () => {
      const { receiver, done } = transfer({ root: `${root}/a.txt` });
      const error = await done.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
      assert.ok(error instanceof Error && !(error instanceof SyncError), String(error));
      assert.deepEqual(receiver.stops, [error]);
    });
  });
});

Deno.test("sendDirectory sends only the file its STAT described, at its size", async (t) => {
  await withTree(async (root) => {
    const content = randomBytes(40_000);

    await t.step("a file that shrank after its STAT: a SyncError saying so", async () => {
      await write(root, "file.bin", content);
      const { receiver, done } = transfer({ root });
      const [stat] = await receiver.stats();
      assert.equal(stat!.size, 40_000);
      await Deno.truncate(`${root}/file.bin`, 1000);
      receiver.push(packet(REQ, 0));
      await assert.rejects(done, (error: unknown) => {
        assert.ok(error instanceof SyncError);
        assert.match(error.message, /file\.bin" shrank while it was sent \(1000 of 40000 bytes\)/);
        return true;
      });
    });

    await t.step("a file emptied after its STAT: a SyncError saying so", async () => {
      await write(root, "file.bin", content);
      const { receiver, done } = transfer({ root });
      await receiver.stats();
      await Deno.truncate(`${root}/file.bin`, 0);
      receiver.push(packet(REQ, 0));
      await assert.rejects(done, /shrank/);
    });

    await t.step("a file that grew after its STAT: cut at the STAT's size", async () => {
      await write(root, "file.bin", content);
      const { receiver, done } = transfer({ root });
      await receiver.stats();
      await Deno.writeFile(`${root}/file.bin`, randomBytes(50_000), { append: true });
      receiver.push(packet(REQ, 0));
      await receiver.untilEnd(0);
      receiver.push(packet(FIN));
      assert.deepEqual(await done, { entries: 1, files: 1, bytes: 40_000 });
      assert.deepEqual(receiver.file(0).bytes, content);
    });

    await t.step("a file replaced by a symlink after its STAT: a SyncError, no data", async () => {
      const outside = await Deno.makeTempDir({ prefix: "berth-filesync-outside-" });
      try {
        await Deno.writeTextFile(`${outside}/secret`, "not in the directory\n");
        await write(root, "file.bin", content);
        const { receiver, done } = transfer({ root });
        await receiver.stats();
        await Deno.remove(`${root}/file.bin`);
        await Deno.symlink(`${outside}/secret`, `${root}/file.bin`);
        receiver.push(packet(REQ, 0));
        await assert.rejects(done, (error: unknown) => {
          assert.ok(error instanceof SyncError);
          assert.match(error.message, /file\.bin" was replaced while it was sent/);
          return true;
        });
        assert.ok(!receiver.packets.some((p) => p.type === DATA), "nothing of the target was sent");
      } finally {
        await Deno.remove(`${root}/file.bin`);
        await Deno.remove(outside, { recursive: true });
      }
    });

    await t.step("a file replaced by another file after its STAT: a SyncError", async () => {
      await write(root, "file.bin", content);
      const { receiver, done } = transfer({ root });
      await receiver.stats();
      await write(root, "new.bin", content);
      await Deno.rename(`${root}/new.bin`, `${root}/file.bin`);
      receiver.push(packet(REQ, 0));
      await assert.rejects(done, /was replaced/);
      assert.ok(!receiver.packets.some((p) => p.type === DATA));
    });
  });
});

Deno.test("sendDirectory sends FIFOs and devices as a STAT alone and leaves out sockets", async (t) => {
  await withTree(async (root) => {
    await write(root, "a.txt", "a\n");
    await write(root, "run/z.txt", "z\n");
    await command("mkfifo", `${root}/run/pipe`);
    await Deno.chmod(`${root}/run/pipe`, 0o640);
    await Deno.link(`${root}/run/pipe`, `${root}/run/pipe2`);

    await t.step(
      "a FIFO: ModeNamedPipe, no size, no device numbers; a socket is left out",
      async () => {
        // Deno removes a Unix socket's file when its listener closes: close them after the walk.
        using _agent = Deno.listen({ transport: "unix", path: `${root}/run/agent.sock` });
        using _b = Deno.listen({ transport: "unix", path: `${root}/b.sock` });
        assert.ok((await Deno.lstat(`${root}/b.sock`)).isSocket, "the socket is there");
        assert.ok((await Deno.lstat(`${root}/run/pipe`)).isFifo, "the FIFO is there");
        const { stats, summary } = await statsOf({ root });
        assert.deepEqual(stats.map((stat) => stat.path), [
          "a.txt",
          "run",
          "run/pipe",
          "run/pipe2",
          "run/z.txt",
        ]);
        assert.equal(summary.entries, 5);
        const [pipe, pipe2] = [stats[2]!, stats[3]!];
        assert.equal(pipe.mode, MODE_NAMED_PIPE + 0o640);
        assert.ok(!has(pipe.mode, MODE_SOCKET) && !has(pipe.mode, MODE_DEVICE));
        assert.equal(pipe.modTime, await modTimeOf(`${root}/run/pipe`));
        assert.equal(pipe.linkname, "");
        assert.deepEqual(pipe.present, [1, 2, 6], "path, mode and modTime only");
        // Its second name: a hard link to the first, as for a regular file.
        assert.equal(pipe2.mode, MODE_NAMED_PIPE + 0o640);
        assert.equal(pipe2.linkname, "run/pipe");
        assert.deepEqual(pipe2.present, [1, 2, 6, 7]);
      },
    );

    await t.step("the engine may not ask for a FIFO's data: the FIFO is never opened", async () => {
      const { receiver, done } = transfer({ root });
      const id = indexes(await receiver.stats()).get("run/pipe");
      if (id === undefined) {
        receiver.push(packet(FIN));
        await done;
        assert.fail("the FIFO has no STAT");
      }
      receiver.push(packet(REQ, id));
      // Refused at once: opening the FIFO would wait for a writer forever.
      await assert.rejects(done, (error: unknown) => {
        assert.ok(error instanceof SyncError, String(error));
        assert.match(error.message, new RegExp(`invalid file request ${id}$`));
        return true;
      });
      assert.ok(!receiver.packets.some((p) => p.type === DATA), "no DATA was sent");
    });

    await t.step({
      name: "character and block devices: type bits, major and minor (needs root: mknod)",
      ignore: !canMknod,
      fn: async () => {
        await makeDevices(root);
        const { receiver, done } = transfer({ root });
        const stats = await receiver.stats();
        const byPath = new Map(stats.map((stat) => [stat.path, stat]));
        const character = byPath.get("null")!;
        const block = byPath.get("loop")!;
        assert.equal(character.mode, MODE_DEVICE + MODE_CHAR_DEVICE + 0o666);
        assert.deepEqual([character.devmajor, character.devminor, character.size], [1, 3, 0]);
        assert.equal(block.mode, MODE_DEVICE + 0o600);
        assert.deepEqual([block.devmajor, block.devminor, block.size], [7, 1000, 0]);
        assert.deepEqual(block.present, [1, 2, 6, 8, 9], "path, mode, modTime, devmajor, devminor");
        // Not requestable either.
        receiver.push(packet(REQ, indexes(stats).get("null")!));
        await assert.rejects(done, /invalid file request/);
      },
    });
  });
});

Deno.test("sendDirectory sends a directory on the way only when something under it goes", async (t) => {
  await withTree(async (root) => {
    await write(root, "top.txt", "top\n");
    await write(root, "dir/other", "other\n");
    await write(root, "sub/deep/z.md", "z\n");
    await write(root, "out/unwanted", "no\n");

    await t.step("a partial include match is a directory's, never a file's", async () => {
      assert.deepEqual(await pathsOf({ root, excludes: null }, { includes: ["*/*.md"] }), []);
      assert.deepEqual(await pathsOf({ root, excludes: null }, { includes: ["*/*/*.md"] }), [
        "sub",
        "sub/deep",
        "sub/deep/z.md",
      ]);
    });

    await t.step("an include pattern naming nothing sends no parents", async () => {
      assert.deepEqual(
        await pathsOf({ root, excludes: null }, { includes: ["sub/missing.txt"] }),
        [],
      );
    });

    await t.step("an excluded directory whose exception matches nothing is left out", async () => {
      const excludes = new DockerignoreMatcher(["out", "!out/keep"]);
      assert.deepEqual(await pathsOf({ root, excludes }), [
        "dir",
        "dir/other",
        "sub",
        "sub/deep",
        "sub/deep/z.md",
        "top.txt",
      ]);
    });

    await t.step("empty include and follow lists filter nothing", async () => {
      const all = await pathsOf({ root, excludes: null });
      assert.equal(all.length, 8);
      assert.deepEqual(
        await pathsOf({ root, excludes: null }, { includes: [], followPaths: [] }),
        all,
      );
    });
  });
});

Deno.test("sendDirectory stops walking once the call is over", async () => {
  await withTree(async (root) => {
    for (let i = 0; i < 300; i++) await write(root, `d${String(i).padStart(3, "0")}/f`, "f\n");
    const { receiver, done } = transfer({ root, excludes: null });
    receiver.push(packet(ERR, 0, "boom"));
    await assert.rejects(done, /boom/);
    const written = receiver.packets.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(
      receiver.packets.length <= written + 1,
      `${receiver.packets.length - written} more writes`,
    );
    assert.ok(written < 600, `${written} packets written before the ERR was read`);
    assert.deepEqual(receiver.stops, [], "stop is for walk failures, not for the end of the call");
  });
});

Deno.test("sendDirectory does not open a FIFO put in a listed file's place", async () => {
  await withTree(async (root) => {
    await write(root, "file.bin", "data\n");
    const { receiver, done } = transfer({ root, excludes: null });
    await receiver.stats();
    await Deno.remove(`${root}/file.bin`);
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${root}/file.bin`] }).output();
    assert.ok(mkfifo.success);
    receiver.push(packet(REQ, 0));
    // Rejects at once rather than blocking in the open.
    await assert.rejects(done, /file\.bin" was replaced while it was sent/);
  });
});
