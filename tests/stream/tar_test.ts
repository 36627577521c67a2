import assert from "node:assert/strict";
import { DockerError, DockerProtocolError } from "../../src/errors.ts";
import { readTar, type TarEntry, type TarReaderEntry, tarStream } from "../../src/stream/tar.ts";
import {
  chunked,
  collect,
  concat,
  END,
  padded,
  pattern,
  paxHeader,
  rawHeader,
  splitAt,
} from "./_tar.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ReadEntry extends Omit<TarReaderEntry, "body"> {
  data: Uint8Array;
}

async function readAll(stream: ReadableStream<Uint8Array>, options = {}): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readTar(stream, options)) {
    const { body, ...rest } = entry;
    out.push({ ...rest, data: await collect(body) });
  }
  return out;
}

async function archive(entries: TarEntry[]): Promise<Uint8Array> {
  return await collect(tarStream(entries));
}

async function assertProtocolError(
  promise: Promise<unknown>,
  code: string,
  pattern?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

/** Runs GNU tar; fails on an error exit or any warning. */
async function run(args: string[]): Promise<string> {
  const output = await new Deno.Command("tar", { args }).output();
  const stderr = decoder.decode(output.stderr);
  if (!output.success || stderr !== "") throw new Error(`tar ${args.join(" ")} failed: ${stderr}`);
  return decoder.decode(output.stdout);
}

const LONG_PATH = `${"deep/".repeat(50)}${"f".repeat(40)}.txt`; // 290 characters
const MTIME = 1_700_000_000;

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

Deno.test("readTar reads the same entries whatever the input split", async () => {
  const bytes = await archive([
    { name: "a", body: pattern(700), mtime: MTIME },
    { name: "d", type: "directory", mtime: MTIME },
    { name: "x".repeat(120), body: "pax", mtime: MTIME },
    { name: "l", type: "symlink", linkname: "a", mtime: MTIME },
    { name: "e", mtime: MTIME },
  ]);
  const expected = await readAll(ReadableStream.from([bytes]));
  assert.equal(expected.length, 5);
  for (let offset = 0; offset <= bytes.length; offset++) {
    assert.deepEqual(await readAll(splitAt(bytes, offset)), expected, `split at ${offset}`);
  }
  for (const size of [1, 3, 7, 100, 511, 513]) {
    assert.deepEqual(await readAll(chunked(bytes, size)), expected, `chunks of ${size}`);
  }
  for (let offset = 0; offset < bytes.length; offset += 37) {
    const second = Math.min(bytes.length, offset + 300);
    assert.deepEqual(
      await readAll(splitAt(bytes, offset, second)),
      expected,
      `split at ${offset}, ${second}`,
    );
  }
});

Deno.test("readTar rejects a header with a bad checksum", async () => {
  const bytes = await archive([{ name: "a", body: "hello" }]);
  const corrupt = bytes.slice();
  corrupt[10] = 0x41; // in the name field
  await assertProtocolError(readAll(ReadableStream.from([corrupt])), "INVALID_TAR", /bad checksum/);
  const corruptSecond = concat([await archive([{ name: "a", body: "x" }])]).slice();
  corruptSecond.set(rawHeader({ name: "b", checksum: 1 }), 1024);
  await assertProtocolError(
    readAll(ReadableStream.from([corruptSecond])),
    "INVALID_TAR",
    /byte 1024/,
  );
});

Deno.test("readTar says when its input is compressed", async () => {
  const bytes = await archive([{ name: "a", body: "hello" }]);
  const gzipped = new Response(
    new Blob([bytes.slice()]).stream().pipeThrough(new CompressionStream("gzip")),
  );
  const gzip = new Uint8Array(await gzipped.arrayBuffer());
  await assertProtocolError(readAll(ReadableStream.from([gzip])), "INVALID_TAR", /gzip-compressed/);
  const large = await archive([{ name: "a", body: pattern(100_000) }]);
  const gzippedLarge = new Response(
    new Blob([large.slice()]).stream().pipeThrough(new CompressionStream("gzip")),
  );
  const gzipLarge = new Uint8Array(await gzippedLarge.arrayBuffer());
  assert.ok(gzipLarge.length > 512);
  await assertProtocolError(
    readAll(ReadableStream.from([gzipLarge])),
    "INVALID_TAR",
    /gzip-compressed/,
  );
});

Deno.test("readTar reports a truncated archive as PREMATURE_CLOSE", async () => {
  const bytes = await archive([{ name: "a", body: pattern(1000) }, { name: "b", body: "x" }]);
  // Inside the first header.
  await assertProtocolError(
    readAll(ReadableStream.from([bytes.slice(0, 300)])),
    "PREMATURE_CLOSE",
    /inside a header/,
  );
  // Inside the first body: the body stream errors.
  const entries = readTar(ReadableStream.from([bytes.slice(0, 900)]));
  const reader = entries.getReader();
  const first = (await reader.read()).value!;
  await assertProtocolError(collect(first.body), "PREMATURE_CLOSE", /"a" \(\d+ bytes missing\)/);
  reader.releaseLock();
  await entries.cancel();
  // Inside the first body, never read: the next entry fails.
  await assertProtocolError(
    (async () => {
      for await (const _ of readTar(ReadableStream.from([bytes.slice(0, 900)]))) {
        /* skip bodies */
      }
    })(),
    "PREMATURE_CLOSE",
    /inside the data of entry "a"/,
  );
  // Inside the padding of the last entry.
  await assertProtocolError(
    readAll(ReadableStream.from([bytes.slice(0, 2048 + 100)])),
    "PREMATURE_CLOSE",
  );
  // After an extended header, before its entry.
  const pax = paxHeader("x", { path: "long" });
  await assertProtocolError(
    readAll(ReadableStream.from([pax])),
    "PREMATURE_CLOSE",
    /extended header/,
  );
});

Deno.test("readTar ends at the end of input after a complete entry (no zero blocks)", async () => {
  const bytes = await archive([{ name: "a", body: "abc" }, { name: "b", type: "directory" }]);
  const withoutEnd = bytes.subarray(0, bytes.length - 1024);
  const entries = await readAll(ReadableStream.from([withoutEnd]));
  assert.deepEqual(entries.map((e) => e.name), ["a", "b/"]);
  // One zero block only.
  const oneBlock = bytes.subarray(0, bytes.length - 512);
  assert.equal((await readAll(ReadableStream.from([oneBlock]))).length, 2);
  // An empty input is an empty archive.
  assert.equal((await readAll(ReadableStream.from([]))).length, 0);
});

Deno.test("readTar reads record padding after the end blocks, and ignores it", async () => {
  const bytes = concat([await archive([{ name: "a", body: "abc" }]), new Uint8Array(10240)]);
  let pulls = 0;
  const chunks = [...Array(Math.ceil(bytes.length / 1000)).keys()].map((i) =>
    bytes.slice(i * 1000, i * 1000 + 1000)
  );
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  }, { highWaterMark: 0 });
  assert.equal((await readAll(source)).length, 1);
  assert.ok(pulls > chunks.length, "read to the end");
  assert.equal(chunks.length, 0);
});

Deno.test("readTar rejects a zero block followed by a header", async () => {
  const bytes = concat([new Uint8Array(512), rawHeader({ name: "a" }), END]);
  await assertProtocolError(readAll(ReadableStream.from([bytes])), "INVALID_TAR", /zero block/);
});

Deno.test("readTar skips a body that was not read, and fails a late read of it", async () => {
  const bytes = await archive([
    { name: "a", body: pattern(5000) },
    { name: "b", body: pattern(3000) },
    { name: "c", body: "see" },
  ]);
  const reader = readTar(chunked(bytes, 700)).getReader();
  const a = (await reader.read()).value!;
  const b = (await reader.read()).value!; // a's body skipped unread
  const partial = b.body.getReader();
  const bodyStart = 512 + 5120 + 512;
  const firstPiece = Math.ceil(bodyStart / 700) * 700 - bodyStart; // up to the next chunk boundary
  assert.deepEqual((await partial.read()).value, pattern(3000).subarray(0, firstPiece));
  partial.releaseLock();
  const c = (await reader.read()).value!; // rest of b's body skipped
  assert.equal(await new Response(c.body).text(), "see");
  assert.equal((await reader.read()).done, true);
  await assert.rejects(collect(a.body), (error: unknown) => {
    assert.ok(error instanceof DockerError);
    assert.match(error.message, /"a": its body was skipped/);
    return true;
  });
  await assert.rejects(collect(b.body), /"b": its body was skipped/);
});

Deno.test("readTar skips a cancelled body", async () => {
  const bytes = await archive([{ name: "a", body: pattern(5000) }, { name: "b", body: "bee" }]);
  const names: string[] = [];
  for await (const entry of readTar(chunked(bytes, 1000))) {
    names.push(entry.name);
    if (entry.name === "a") await entry.body.cancel();
    else assert.equal(await new Response(entry.body).text(), "bee");
  }
  assert.deepEqual(names, ["a", "b"]);
});

Deno.test("readTar reads the input only as entries and bodies are pulled", async () => {
  const bytes = await archive([{ name: "a", body: pattern(100_000) }, { name: "b", body: "x" }]);
  let pulls = 0;
  const chunks = [...Array(Math.ceil(bytes.length / 1024)).keys()].map((i) =>
    bytes.slice(i * 1024, i * 1024 + 1024)
  );
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  }, { highWaterMark: 0 });
  const reader = readTar(source).getReader();
  const first = (await reader.read()).value!;
  assert.ok(pulls <= 1, `pulled ${pulls} chunks to read one header`);
  const body = first.body.getReader();
  await body.read();
  await body.read();
  assert.ok(pulls <= 3, `pulled ${pulls} chunks to read two body chunks`);
  body.releaseLock();
  await reader.cancel();
});

Deno.test("readTar cancels its input when cancelled or failing", async () => {
  let cancelled: unknown = "not cancelled";
  const bytes = await archive([{ name: "a", body: "x" }, { name: "b", body: "y" }]);
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes.slice(0, 1024));
    },
    cancel: (reason) => void (cancelled = reason),
  });
  for await (const entry of readTar(source)) {
    assert.equal(entry.name, "a");
    break;
  }
  assert.notEqual(cancelled, "not cancelled");

  let cancelledOnError = false;
  const bad = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(rawHeader({ name: "a", checksum: 7 }));
    },
    cancel: () => void (cancelledOnError = true),
  });
  await assertProtocolError(readAll(bad), "INVALID_TAR");
  assert.ok(cancelledOnError);
});

Deno.test("readTar enforces maxEntries and maxHeaderSize", async () => {
  const bytes = await archive([{ name: "a" }, { name: "b" }, { name: "c" }]);
  assert.equal((await readAll(ReadableStream.from([bytes]), { maxEntries: 3 })).length, 3);
  await assertProtocolError(
    readAll(ReadableStream.from([bytes]), { maxEntries: 2 }),
    "TAR_LIMIT_EXCEEDED",
    /maxEntries \(2\)/,
  );
  const long = await archive([{ name: "n".repeat(2000), body: "x" }]);
  assert.equal((await readAll(ReadableStream.from([long]), { maxHeaderSize: 4096 })).length, 1);
  await assertProtocolError(
    readAll(ReadableStream.from([long]), { maxHeaderSize: 1000 }),
    "TAR_LIMIT_EXCEEDED",
    /2\d\d\d bytes, over maxHeaderSize \(1000\)/,
  );
  // Many small extended headers for one entry add up.
  const many = concat([
    ...Array.from({ length: 20 }, (_, i) => paxHeader("x", { [`key${i}`]: "v".repeat(100) })),
    await archive([{ name: "a" }]),
  ]);
  assert.equal((await readAll(ReadableStream.from([many]), { maxHeaderSize: 4096 })).length, 1);
  await assertProtocolError(
    readAll(ReadableStream.from([many]), { maxHeaderSize: 1024 }),
    "TAR_LIMIT_EXCEEDED",
    /extended headers to \d+ bytes/,
  );
  assert.throws(() => readTar(ReadableStream.from([]), { maxEntries: 0 }), RangeError);
});

Deno.test("readTar applies PAX global headers until they are unset, under local ones", async () => {
  const bytes = concat([
    paxHeader("g", { uname: "global", mtime: "1234.5", comment: "ignored" }),
    rawHeader({ name: "a", uname: "header", mtime: 1 }),
    paxHeader("x", { uname: "local" }),
    rawHeader({ name: "b", uname: "header", mtime: 1 }),
    paxHeader("x", { uname: "" }),
    rawHeader({ name: "c", uname: "header" }),
    paxHeader("g", { uname: "" }),
    rawHeader({ name: "d", uname: "header" }),
    END,
  ]);
  const entries = await readAll(ReadableStream.from([bytes]));
  assert.deepEqual(entries.map((e) => [e.name, e.uname, e.mtime]), [
    ["a", "global", 1234.5],
    ["b", "local", 1234.5],
    ["c", "header", 1234.5],
    ["d", "header", 1234.5],
  ]);
});

Deno.test("readTar reads PAX path, linkpath and size, GNU long names and ustar prefixes", async () => {
  const bytes = concat([
    paxHeader("x", { path: "pax/ñame", size: "3" }),
    rawHeader({ name: "ignored", size: 99 }),
    padded("abc"),
    rawHeader({ name: "././@LongLink", typeflag: "L", size: 8, magic: "ustar  \0" }),
    padded("gnu/long\0"),
    rawHeader({ name: "ignored", typeflag: "K", size: 6, magic: "ustar  \0" }),
    padded("target"),
    rawHeader({ name: "short", typeflag: "2", linkname: "ignored", magic: "ustar  \0" }),
    rawHeader({ name: "file", prefix: "the/prefix" }),
    rawHeader({ name: "file", prefix: "not-a-prefix", magic: "ustar  \0" }),
    rawHeader({ name: "old", typeflag: "\0", magic: "" }),
    rawHeader({ name: "olddir/", typeflag: "\0", magic: "" }),
    rawHeader({ name: "fifo", typeflag: "6" }),
    rawHeader({ name: "chardev", typeflag: "3" }),
    END,
  ]);
  const entries = await readAll(ReadableStream.from([bytes]));
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.typeflag, e.linkname, decoder.decode(e.data)]),
    [
      ["pax/ñame", "file", "0", "", "abc"],
      ["gnu/long", "symlink", "2", "target", ""],
      ["the/prefix/file", "file", "0", "", ""],
      ["file", "file", "0", "", ""],
      ["old", "file", "\0", "", ""],
      ["olddir/", "directory", "\0", "", ""],
      ["fifo", "other", "6", "", ""],
      ["chardev", "other", "3", "", ""],
    ],
  );
});

Deno.test("readTar rejects malformed PAX records and numeric fields", async () => {
  const badRecord = concat([
    rawHeader({ name: "pax", typeflag: "x", size: 12 }),
    padded("99 path=a\n  "),
    rawHeader({ name: "a" }),
    END,
  ]);
  await assertProtocolError(
    readAll(ReadableStream.from([badRecord])),
    "INVALID_TAR",
    /malformed record/,
  );
  const badSize = concat([paxHeader("x", { size: "12x" }), rawHeader({ name: "a" }), END]);
  await assertProtocolError(
    readAll(ReadableStream.from([badSize])),
    "INVALID_TAR",
    /size is not a valid number/,
  );
  const badOctal = rawHeader({ name: "a" });
  badOctal.set(encoder.encode("0009"), 100);
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += badOctal[i]!;
  badOctal.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  await assertProtocolError(
    readAll(ReadableStream.from([badOctal, END])),
    "INVALID_TAR",
    /mode field/,
  );
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

Deno.test("readTar reads archives made by GNU tar (pax, gnu, ustar formats)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = `${"sub/".repeat(30)}${"n".repeat(60)}`;
    const longDir = long.slice(0, long.lastIndexOf("/"));
    await Deno.mkdir(`${dir}/src/${longDir}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/${long}`, "deep");
    await Deno.writeFile(`${dir}/src/data.bin`, pattern(10_000));
    await Deno.writeTextFile(`${dir}/src/ünï.txt`, "u");
    await Deno.symlink("data.bin", `${dir}/src/sym`);
    await Deno.symlink("x".repeat(120), `${dir}/src/longsym`);
    await Deno.link(`${dir}/src/data.bin`, `${dir}/src/hard`);
    await Deno.chmod(`${dir}/src/data.bin`, 0o640);
    for (const format of ["pax", "gnu"]) {
      const file = `${dir}/${format}.tar`;
      await run(["--format", format, "-cf", file, "-C", `${dir}/src`, "."]);
      const entries = await readAll(ReadableStream.from([await Deno.readFile(file)]));
      const byName = new Map(entries.map((e) => [e.name, e]));
      assert.equal(decoder.decode(byName.get(`./${long}`)?.data), "deep", `${format}: long name`);
      assert.equal(byName.get("./")?.type, "directory");
      const data = byName.get("./data.bin") ?? byName.get("./hard");
      assert.deepEqual(data!.data, pattern(10_000), format);
      assert.equal(data!.mode & 0o777, 0o640);
      const other = data!.name === "./data.bin" ? byName.get("./hard")! : byName.get("./data.bin")!;
      assert.equal(other.type, "hardlink");
      assert.equal(other.linkname, data!.name);
      assert.equal(decoder.decode(byName.get("./ünï.txt")!.data), "u");
      assert.equal(byName.get("./sym")!.linkname, "data.bin");
      assert.equal(byName.get("./longsym")!.linkname, "x".repeat(120), `${format}: long link`);
      const stat = await Deno.stat(`${dir}/src/data.bin`);
      assert.equal(Math.floor(data!.mtime), Math.floor(stat.mtime!.getTime() / 1000));
    }
    // ustar splits names of up to 255 bytes into prefix and name.
    const ustarName = `${"p".repeat(90)}/${"q".repeat(90)}`;
    await Deno.mkdir(`${dir}/u/${"p".repeat(90)}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/u/${ustarName}`, "ustar");
    await run(["--format", "ustar", "-cf", `${dir}/ustar.tar`, "-C", `${dir}/u`, ustarName]);
    const [entry] = await readAll(ReadableStream.from([await Deno.readFile(`${dir}/ustar.tar`)]));
    assert.equal(entry!.name, ustarName);
    assert.equal(decoder.decode(entry!.data), "ustar");
    // GNU base-256: a uid over 2097151 and a negative mtime.
    await run([
      "--format",
      "gnu",
      "--owner",
      "big:3000000",
      "--mtime",
      "1960-01-01 00:00:00 UTC",
      "-cf",
      `${dir}/b256.tar`,
      "-C",
      `${dir}/u`,
      ustarName,
    ]);
    const [big] = await readAll(ReadableStream.from([await Deno.readFile(`${dir}/b256.tar`)]));
    assert.equal(big!.uid, 3_000_000);
    assert.equal(big!.uname, "big");
    assert.equal(big!.mtime, Date.UTC(1960, 0, 1) / 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
