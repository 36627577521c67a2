/**
 * Tests of the sending side of fsutil's DiffCopy (`sendDirectory`), driven
 * by a fake receiver: packets the test pushes in, and every framed packet
 * berth writes decoded field by field (fsutil types/wire.proto and
 * types/stat.proto).
 */

import assert from "node:assert/strict";
import { fields, Reader, WIRE_BYTES, WIRE_VARINT, Writer } from "../../src/build/_protobuf.ts";
import { DockerignoreMatcher } from "../../src/build/dockerignore.ts";
import {
  sendDirectory,
  type SyncedDirectory,
  SyncError,
  type SyncRequest,
  type SyncSummary,
} from "../../src/build/filesync.ts";
import { canMknod, command, makeDevices } from "./_special_files.ts";

// Packet types.
const STAT = 0;
const REQ = 1;
const DATA = 2;
const FIN = 3;
const ERR = 4;

// Go os.FileMode bits.
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_NAMED_PIPE = 2 ** 25;
const MODE_SOCKET = 2 ** 24;
const MODE_SETUID = 2 ** 23;
const MODE_SETGID = 2 ** 22;
const MODE_CHAR_DEVICE = 2 ** 21;
const MODE_STICKY = 2 ** 20;

/** Whether a Go mode has `bit` set (`&` would be signed 32-bit for ModeDir). */
function has(mode: number, bit: number): boolean {
  return Math.floor(mode / bit) % 2 === 1;
}

/** Bytes of file data per DATA packet at most. */
const CHUNK = 32 * 1024;

/** A decoded fsutil `Stat`; `present` lists the fields that were on the wire. */
interface Stat {
  path: string;
  mode: number;
  size: number;
  modTime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  present: number[];
}

/** A decoded fsutil `Packet`. */
interface Packet {
  type: number;
  id: number;
  stat: Stat | undefined;
  data: Uint8Array;
}

function decodeStat(reader: Reader): Stat {
  const stat: Stat = {
    path: "",
    mode: 0,
    size: 0,
    modTime: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
    present: [],
  };
  fields(
    reader,
    {
      1: WIRE_BYTES,
      2: WIRE_VARINT,
      3: WIRE_VARINT,
      4: WIRE_VARINT,
      5: WIRE_VARINT,
      6: WIRE_VARINT,
      7: WIRE_BYTES,
      8: WIRE_VARINT,
      9: WIRE_VARINT,
    },
    (field, part) => {
      stat.present.push(field);
      if (field === 1) stat.path = part.string();
      else if (field === 2) stat.mode = part.varint();
      else if (field === 5) stat.size = part.varint();
      else if (field === 6) stat.modTime = part.varint();
      else if (field === 7) stat.linkname = part.string();
      else if (field === 8) stat.devmajor = part.varint();
      else if (field === 9) stat.devminor = part.varint();
      else part.varint(); // uid, gid: checked through `present`
    },
  );
  return stat;
}

function decodePacket(message: Uint8Array): Packet {
  const packet: Packet = { type: STAT, id: 0, stat: undefined, data: new Uint8Array(0) };
  fields(
    new Reader(message),
    { 1: WIRE_VARINT, 2: WIRE_BYTES, 3: WIRE_VARINT, 4: WIRE_BYTES },
    (field, part) => {
      if (field === 1) packet.type = part.varint();
      else if (field === 2) packet.stat = decodeStat(part.message());
      else if (field === 3) packet.id = part.varint();
      else packet.data = part.bytes().slice();
    },
  );
  return packet;
}

/** A packet the receiver sends: REQ and FIN carry no data, ERR its message. */
function packet(type: number, id = 0, data = ""): Uint8Array {
  return new Writer().varint(1, type).varint(3, id).bytes(4, data).finish();
}

/**
 * The receiving end: a queue of packets for `messages`, and a `write` that
 * checks each frame's gRPC prefix and decodes the packet in it.
 */
class FakeReceiver {
  /** Every packet berth wrote, in order. */
  readonly packets: Packet[] = [];
  /** The reasons `stop` was called with. */
  readonly stops: unknown[] = [];
  readonly #inbound: (Uint8Array | null)[] = [];
  #waiting: (() => void)[] = [];

  /** Queues a packet for berth to read. */
  push(message: Uint8Array): void {
    this.#inbound.push(message);
    this.#wake();
  }

  /** Ends the messages (after what is queued). */
  end(): void {
    this.#inbound.push(null);
    this.#wake();
  }

  /** The packets berth reads. */
  async *messages(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#inbound.shift();
      if (next === null) return;
      if (next !== undefined) yield next;
      else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  readonly write = (framed: Uint8Array): Promise<void> => {
    assert.ok(framed.length >= 5, "a frame has its 5-byte prefix");
    assert.equal(framed[0], 0, "not compressed");
    const length = new DataView(framed.buffer, framed.byteOffset, framed.length).getUint32(1);
    assert.equal(length, framed.length - 5, "the prefix's length is the message's");
    this.packets.push(decodePacket(framed.slice(5)));
    this.#wake();
    return Promise.resolve();
  };

  readonly stop = (reason: unknown): void => {
    this.stops.push(reason);
    this.end();
  };

  /** The STATs before the empty STAT, once it was written. */
  async stats(): Promise<Stat[]> {
    await this.until(() => this.packets.some((p) => p.type === STAT && p.stat === undefined));
    const end = this.packets.findIndex((p) => p.type === STAT && p.stat === undefined);
    const stats = this.packets.slice(0, end);
    assert.ok(stats.every((p) => p.type === STAT && p.stat !== undefined && p.id === 0));
    return stats.map((p) => p.stat!);
  }

  /** Waits until `done` holds, re-checking after every write. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Waits for the empty DATA that ends file `id`. */
  untilEnd(id: number): Promise<void> {
    return this.until(() => this.packets.some((p) => isEnd(p, id)));
  }

  /** The data of file `id`, checking its DATA packets and the empty one after them. */
  file(id: number): { chunks: number[]; bytes: Uint8Array } {
    const data = this.packets.filter((p) => p.type === DATA && p.id === id);
    assert.ok(data.length > 0 && isEnd(data.at(-1)!, id), `file ${id} ends with an empty DATA`);
    assert.ok(data.slice(0, -1).every((p) => p.data.length > 0), "only the last DATA is empty");
    assert.equal(data.filter((p) => p.stat !== undefined).length, 0);
    const chunks = data.slice(0, -1).map((p) => p.data.length);
    const bytes = new Uint8Array(chunks.reduce((sum, n) => sum + n, 0));
    let at = 0;
    for (const p of data) {
      bytes.set(p.data, at);
      at += p.data.length;
    }
    return { chunks, bytes };
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

function isEnd(p: Packet, id: number): boolean {
  return p.type === DATA && p.id === id && p.data.length === 0;
}

/** Starts a transfer of `directory` to a new fake receiver. */
function transfer(directory: SyncedDirectory, request: SyncRequest = {}) {
  const receiver = new FakeReceiver();
  const done = sendDirectory(
    directory,
    request,
    receiver.messages(),
    receiver.write,
    receiver.stop,
  );
  return { receiver, done };
}

/** A whole transfer that asks for nothing: the STATs and the summary. */
async function statsOf(
  directory: SyncedDirectory,
  request: SyncRequest = {},
): Promise<{ stats: Stat[]; summary: SyncSummary }> {
  const { receiver, done } = transfer(directory, request);
  const stats = await receiver.stats();
  receiver.push(packet(FIN));
  const summary = await done;
  assert.equal(receiver.packets.at(-1)?.type, FIN);
  return { stats, summary };
}

/** The paths a transfer sends. */
async function pathsOf(directory: SyncedDirectory, request: SyncRequest = {}): Promise<string[]> {
  return (await statsOf(directory, request)).stats.map((stat) => stat.path);
}

/** Writes a file (and its directories) under `root`. */
async function write(root: string, path: string, data: string | Uint8Array, mode = 0o644) {
  const full = `${root}/${path}`;
  await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(full, data);
  else await Deno.writeFile(full, data);
  await Deno.chmod(full, mode);
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function withTree(body: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "berth-filesync-" });
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** `size` random bytes. */
function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(at + 65_536, size)));
  }
  return bytes;
}

/** An entry's modTime as sent: its mtime in whole milliseconds, in nanoseconds. */
async function modTimeOf(path: string): Promise<number> {
  const info = await Deno.lstat(path);
  return Number(BigInt(info.mtime!.getTime()) * 1_000_000n);
}

/** The index of each path among the STATs. */
function indexes(stats: Stat[]): Map<string, number> {
  return new Map(stats.map((stat, i) => [stat.path, i]));
}

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
