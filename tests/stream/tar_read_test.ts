import assert from "node:assert/strict";
import { DockerError } from "../../src/errors.ts";
import { readTar } from "../../src/stream/tar.ts";
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
import { archive, assertProtocolError, MTIME, readAll, run } from "./_tar_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
