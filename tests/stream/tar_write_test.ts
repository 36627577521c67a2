import assert from "node:assert/strict";
import { readTar, type TarEntry, tarStream } from "../../src/stream/tar.ts";
import { collect, END, pattern } from "./_tar.ts";
import { archive, MTIME, readAll, run } from "./_tar_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const LONG_PATH = `${"deep/".repeat(50)}${"f".repeat(40)}.txt`; // 290 characters

function sampleEntries(): TarEntry[] {
  return [
    { name: "dir", type: "directory", mode: 0o750, mtime: MTIME },
    { name: "dir/empty", body: new Uint8Array(0), mtime: MTIME },
    { name: "dir/one", body: "x", mode: 0o600, mtime: new Date(MTIME * 1000) },
    { name: "dir/b511", body: pattern(511), mtime: MTIME },
    { name: "dir/b512", body: pattern(512), mtime: MTIME },
    {
      name: "dir/b513",
      body: pattern(513),
      mtime: MTIME,
      uid: 1000,
      gid: 1001,
      uname: "alice",
      gname: "staff",
    },
    { name: "dir/link", type: "symlink", linkname: "b512", mtime: MTIME },
    { name: "dir/hard", type: "hardlink", linkname: "dir/b511", mtime: MTIME },
    { name: LONG_PATH, body: "long", mtime: MTIME },
    { name: "unicodé/日本語.txt", body: "ünï", mtime: MTIME },
    { name: "dir/longlink", type: "symlink", linkname: "t".repeat(150), mtime: MTIME },
    { name: "exec.sh", body: "#!/bin/sh\n", mode: 0o755, mtime: MTIME },
  ];
}

Deno.test("tarStream and readTar round-trip files, directories, links, long and unicode names", async () => {
  const bytes = await archive(sampleEntries());
  assert.equal(bytes.length % 512, 0);
  assert.deepEqual(bytes.subarray(bytes.length - 1024), END);
  const entries = await readAll(ReadableStream.from([bytes]));
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.size]), [
    ["dir/", "directory", 0],
    ["dir/empty", "file", 0],
    ["dir/one", "file", 1],
    ["dir/b511", "file", 511],
    ["dir/b512", "file", 512],
    ["dir/b513", "file", 513],
    ["dir/link", "symlink", 0],
    ["dir/hard", "hardlink", 0],
    [LONG_PATH, "file", 4],
    ["unicodé/日本語.txt", "file", 5],
    ["dir/longlink", "symlink", 0],
    ["exec.sh", "file", 10],
  ]);
  const byName = new Map(entries.map((e) => [e.name, e]));
  assert.equal(byName.get("dir/")!.mode, 0o750);
  assert.equal(byName.get("dir/one")!.mode, 0o600);
  assert.equal(byName.get("dir/empty")!.mode, 0o644);
  assert.equal(byName.get("exec.sh")!.mode, 0o755);
  assert.equal(byName.get("dir/link")!.mode, 0o777);
  for (const entry of entries) assert.equal(entry.mtime, MTIME, entry.name);
  assert.equal(decoder.decode(byName.get("dir/one")!.data), "x");
  assert.deepEqual(byName.get("dir/b511")!.data, pattern(511));
  assert.deepEqual(byName.get("dir/b512")!.data, pattern(512));
  assert.deepEqual(byName.get("dir/b513")!.data, pattern(513));
  assert.equal(decoder.decode(byName.get(LONG_PATH)!.data), "long");
  assert.equal(decoder.decode(byName.get("unicodé/日本語.txt")!.data), "ünï");
  const b513 = byName.get("dir/b513")!;
  assert.deepEqual([b513.uid, b513.gid, b513.uname, b513.gname], [1000, 1001, "alice", "staff"]);
  assert.equal(byName.get("dir/link")!.linkname, "b512");
  assert.equal(byName.get("dir/hard")!.linkname, "dir/b511");
  assert.equal(byName.get("dir/longlink")!.linkname, "t".repeat(150));
  assert.equal(byName.get("dir/one")!.typeflag, "0");
  assert.equal(byName.get("dir/")!.typeflag, "5");
});

Deno.test("tarStream writes a 5 MiB stream body pull by pull and readTar streams it back", async () => {
  const size = 5 * 1024 * 1024;
  const piece = 64 * 1024;
  let produced = 0;
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      if (produced >= size) return controller.close();
      const take = Math.min(piece, size - produced);
      controller.enqueue(pattern(take, produced));
      produced += take;
    },
  }, { highWaterMark: 0 });
  const tar = tarStream([{ name: "big.bin", size, body, mtime: MTIME }, {
    name: "after",
    body: "end",
  }]);
  // Backpressure: reading the header does not drain the body.
  const reader = tar.getReader();
  const first = await reader.read();
  assert.equal(first.value!.length, 512);
  assert.ok(pulls <= 1, `body was pulled ${pulls} times before its bytes were asked for`);
  reader.releaseLock();
  const rest = tar;
  let seen = 0;
  let bodyPulls = 0;
  const entries = readTar(concatStreams(first.value!, rest));
  for await (const entry of entries) {
    if (entry.name === "big.bin") {
      assert.equal(entry.size, size);
      for await (const chunk of entry.body) {
        bodyPulls++;
        assert.deepEqual(chunk, pattern(chunk.length, seen));
        seen += chunk.length;
      }
    } else {
      assert.equal(entry.name, "after");
      assert.equal(await new Response(entry.body).text(), "end");
    }
  }
  assert.equal(seen, size);
  assert.ok(bodyPulls >= size / piece, "body came through in pieces, not as one buffer");
});

function concatStreams(
  head: Uint8Array,
  tail: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const reader = tail.getReader();
  let sentHead = false;
  return new ReadableStream({
    async pull(controller) {
      if (!sentHead) {
        sentHead = true;
        return controller.enqueue(head);
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

Deno.test("tarStream rejects a stream body shorter or longer than its size", async () => {
  const short = tarStream([{
    name: "a",
    size: 10,
    body: ReadableStream.from([new Uint8Array(4)]),
  }]);
  await assert.rejects(collect(short), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /"a".*ended after 4 of 10 bytes/);
    return true;
  });
  let cancelled = false;
  const longBody = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(new Uint8Array(8)),
    cancel: () => void (cancelled = true),
  });
  await assert.rejects(
    collect(tarStream([{ name: "b", size: 10, body: longBody }])),
    /more than its size of 10/,
  );
  assert.ok(cancelled, "the body stream was cancelled");
});

Deno.test("tarStream rejects invalid entries", async () => {
  const cases: [TarEntry, RegExp, ErrorConstructor][] = [
    [{ name: "" }, /non-empty name/, TypeError],
    [{ name: "a\0b" }, /NUL/, TypeError],
    [{ name: "s", body: ReadableStream.from([]) }, /size is required/, TypeError],
    [{ name: "l", type: "symlink" }, /linkname must be a string/, TypeError],
    [{ name: "d", type: "directory", body: "x" }, /only files have a body/, TypeError],
    [{ name: "m", mode: -1 }, /mode/, RangeError],
    [{ name: "z", body: "abc", size: 2 }, /size is 2 but the body has 3 bytes/, RangeError],
    [{ name: "t", type: "socket" as "file" }, /unknown type/, TypeError],
    [{ name: "p", type: "fifo", body: "x" }, /only files have a body/, TypeError],
    [{ name: "q", type: "fifo", size: 1 }, /size is 1 but the body has 0 bytes/, RangeError],
    [{ name: "f", devmajor: 1 }, /only character and block devices have a devmajor/, TypeError],
    [{ name: "g", type: "fifo", devminor: 0 }, /only character .* have a devminor/, TypeError],
    [{ name: "c", type: "character-device", devmajor: -1 }, /devmajor must be/, RangeError],
    [{ name: "b", type: "block-device", devminor: 0o10000000 }, /from 0 to 2097151/, RangeError],
  ];
  for (const [entry, message, type] of cases) {
    await assert.rejects(collect(tarStream([entry])), (error: unknown) => {
      assert.ok(error instanceof type, `${entry.name}: ${error}`);
      assert.match((error as Error).message, message);
      return true;
    });
  }
});

/** The type flag, size and device fields of every header block of an archive without PAX headers. */
function headerFields(bytes: Uint8Array): {
  name: string;
  typeflag: string;
  mode: string;
  size: string;
  devmajor: string;
  devminor: string;
}[] {
  const text = (at: number, length: number) => {
    const field = bytes.subarray(at, at + length);
    const end = field.indexOf(0);
    return decoder.decode(end === -1 ? field : field.subarray(0, end));
  };
  const out = [];
  for (let at = 0; at < bytes.length && bytes[at] !== 0; at += 512) {
    const size = text(at + 124, 12);
    out.push({
      name: text(at, 100),
      typeflag: text(at + 156, 1),
      mode: text(at + 100, 8),
      size,
      devmajor: text(at + 329, 8),
      devminor: text(at + 337, 8),
    });
    at += Math.ceil(parseInt(size, 8) / 512) * 512;
  }
  return out;
}

Deno.test("tarStream writes FIFOs and character and block devices, header only, with device numbers", async (t) => {
  const entries: TarEntry[] = [
    { name: "run/pipe", type: "fifo", mtime: MTIME },
    { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "dev/loop1", type: "block-device", devmajor: 7, devminor: 1000, mode: 0o660 },
    { name: "dev/max", type: "character-device", devmajor: 0o7777777, devminor: 0o7777777 },
    { name: "after.txt", body: "after\n", mtime: MTIME },
  ];
  const bytes = await archive(entries);

  await t.step("type flags 6, 3 and 4, size 0, no data blocks, octal device numbers", () => {
    assert.equal(bytes.length, 5 * 512 + 512 + 1024, "five headers, one data block, the end");
    assert.deepEqual(headerFields(bytes), [
      {
        name: "run/pipe",
        typeflag: "6",
        mode: "0000644",
        size: "00000000000",
        devmajor: "0000000",
        devminor: "0000000",
      },
      {
        name: "dev/null",
        typeflag: "3",
        mode: "0000666",
        size: "00000000000",
        devmajor: "0000001",
        devminor: "0000003",
      },
      {
        name: "dev/loop1",
        typeflag: "4",
        mode: "0000660",
        size: "00000000000",
        devmajor: "0000007",
        devminor: "0001750",
      },
      {
        name: "dev/max",
        typeflag: "3",
        mode: "0000644",
        size: "00000000000",
        devmajor: "7777777",
        devminor: "7777777",
      },
      {
        name: "after.txt",
        typeflag: "0",
        mode: "0000644",
        size: "00000000006",
        devmajor: "0000000",
        devminor: "0000000",
      },
    ]);
  });

  await t.step('readTar reads them back as header-only "other" entries', async () => {
    const read = await readAll(ReadableStream.from([bytes]));
    assert.deepEqual(
      read.map((e) => [e.name, e.type, e.typeflag, e.size, e.mode, e.devmajor, e.devminor]),
      [
        ["run/pipe", "other", "6", 0, 0o644, 0, 0],
        ["dev/null", "other", "3", 0, 0o666, 1, 3],
        ["dev/loop1", "other", "4", 0, 0o660, 7, 1000],
        ["dev/max", "other", "3", 0, 0o644, 2097151, 2097151],
        ["after.txt", "file", "0", 6, 0o644, 0, 0],
      ],
    );
    assert.equal(decoder.decode(read[4]!.data), "after\n");
  });

  await t.step("GNU tar lists them as a FIFO and devices with their numbers", async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/special.tar`, bytes);
      const lines = (await run(["-tvf", `${dir}/special.tar`])).trim().split("\n");
      assert.equal(lines.length, 5, lines.join("\n"));
      assert.match(lines[0]!, /^prw-r--r-- 0\/0 +0 .* run\/pipe$/);
      assert.match(lines[1]!, /^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/);
      assert.match(lines[2]!, /^brw-rw---- 0\/0 +7,1000 .* dev\/loop1$/);
      assert.match(lines[3]!, /^crw-r--r-- 0\/0 +2097151,2097151 .* dev\/max$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("tarStream closes the entries iterator when cancelled", async () => {
  let closed = false;
  function* entries(): Generator<TarEntry> {
    try {
      for (let i = 0; i < 100; i++) yield { name: `f${i}`, body: "x" };
    } finally {
      closed = true;
    }
  }
  const reader = tarStream(entries()).getReader();
  await reader.read();
  await reader.cancel();
  assert.ok(closed);
});

Deno.test("tarStream takes entries from an async iterable", async () => {
  async function* entries(): AsyncGenerator<TarEntry> {
    yield { name: "a", body: "1" };
    await Promise.resolve();
    yield { name: "b", body: encoder.encode("22") };
  }
  const read = await readAll(tarStream(entries()));
  assert.deepEqual(read.map((e) => [e.name, decoder.decode(e.data)]), [["a", "1"], ["b", "22"]]);
});

Deno.test("tarStream writes PAX records with self-counting length prefixes", async () => {
  // Records around the 99/100 and 999/1000 byte boundaries of the length prefix.
  // A record is the name's bytes + 7 (" path=" and "\n") + the digits of its length.
  for (const bytesLength of [88, 89, 90, 91, 92, 93, 94, 986, 987, 988, 989, 990, 991, 992]) {
    const name = "é" + "n".repeat(bytesLength - 2);
    const bytes = await archive([{ name, body: "x" }]);
    assert.equal(String.fromCharCode(bytes[156]!), "x");
    const size = parseInt(decoder.decode(bytes.subarray(124, 135)), 8);
    const records = decoder.decode(bytes.subarray(512, 512 + size));
    const match = /^(\d+) path=(.*)\n$/s.exec(records)!;
    assert.ok(match, records);
    assert.equal(Number(match[1]), encoder.encode(records).length);
    assert.equal(match[2], name);
    const [entry] = await readAll(ReadableStream.from([bytes]));
    assert.equal(entry!.name, name);
  }
});

Deno.test("tarStream uses PAX and base-256 for a size of 8 GiB and more", async () => {
  const size = 8 * 1024 ** 3 + 5;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(new Uint8Array(1024)),
    cancel: () => void (cancelled = true),
  });
  const reader = tarStream([{ name: "huge", size, body }]).getReader();
  const head = (await reader.read()).value!;
  assert.match(decoder.decode(head.subarray(512, 1024)), /\d+ size=8589934597\n/);
  assert.equal(head[1024 + 124]! & 0x80, 0x80, "size field is base-256");
  const data = (await reader.read()).value!;
  await reader.cancel();
  assert.ok(cancelled);
  const entries = readTar(ReadableStream.from([head, data])).getReader();
  const entry = (await entries.read()).value!;
  assert.equal(entry.name, "huge");
  assert.equal(entry.size, size);
  await entries.cancel();
});

Deno.test("tarStream writes large uid, gid and negative mtime that readTar reads back", async () => {
  const [entry] = await readAll(
    tarStream([{ name: "x", uid: 5_000_000, gid: 2 ** 40, mtime: -86400, uname: "ünï", body: "" }]),
  );
  assert.deepEqual([entry!.uid, entry!.gid, entry!.mtime, entry!.uname], [
    5_000_000,
    2 ** 40,
    -86400,
    "ünï",
  ]);
});

Deno.test("tarStream output is listed and extracted correctly by GNU tar", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await archive(sampleEntries());
    await Deno.writeFile(`${dir}/out.tar`, bytes);
    const listing = await run(["-tvf", `${dir}/out.tar`]);
    const lines = listing.trim().split("\n");
    assert.equal(lines.length, 12, listing);
    assert.match(lines[0]!, /^drwxr-x--- 0\/0 +0 2023-11-1\d \d\d:\d\d dir\/$/);
    assert.match(lines[2]!, /^-rw------- 0\/0 +1 .* dir\/one$/);
    assert.match(lines[5]!, /^-rw-r--r-- alice\/staff +513 .* dir\/b513$/);
    assert.match(lines[6]!, /^lrwxrwxrwx .* dir\/link -> b512$/);
    assert.match(lines[7]!, /^hrw-r--r-- .* dir\/hard link to dir\/b511$/);
    assert.ok(lines[8]!.endsWith(LONG_PATH), lines[8]);
    assert.ok(lines[9]!.endsWith("unicodé/日本語.txt"), lines[9]);
    assert.ok(lines[10]!.endsWith(`dir/longlink -> ${"t".repeat(150)}`), lines[10]);
    await Deno.mkdir(`${dir}/x`);
    await run(["-xf", `${dir}/out.tar`, "-C", `${dir}/x`]);
    assert.deepEqual(await Deno.readFile(`${dir}/x/dir/b513`), pattern(513));
    assert.equal(await Deno.readTextFile(`${dir}/x/${LONG_PATH}`), "long");
    assert.equal(await Deno.readTextFile(`${dir}/x/unicodé/日本語.txt`), "ünï");
    assert.equal(await Deno.readLink(`${dir}/x/dir/link`), "b512");
    assert.equal(
      (await Deno.stat(`${dir}/x/dir/hard`)).ino,
      (await Deno.stat(`${dir}/x/dir/b511`)).ino,
    );
    assert.equal((await Deno.stat(`${dir}/x/exec.sh`)).mtime!.getTime(), MTIME * 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
