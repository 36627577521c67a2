import assert from "node:assert/strict";
import { Connection } from "../../src/http/connection.ts";

/**
 * A socket that answers each read with the next scripted piece (as much
 * of it as fits) and records the size of every region it was given.
 */
function scriptedConn(pieces: Uint8Array[]): { conn: Deno.Conn; asked: number[] } {
  const queue = [...pieces];
  const asked: number[] = [];
  const conn = {
    read(into: Uint8Array): Promise<number | null> {
      asked.push(into.length);
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      const n = Math.min(next.length, into.length);
      into.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
    close() {},
  };
  return { conn: conn as unknown as Deno.Conn, asked };
}

/** Every piece the connection reads, to the end. */
async function readAll(connection: Connection): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for (let piece = await connection.read(); piece !== null; piece = await connection.read()) {
    got.push(piece);
  }
  return got;
}

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

Deno.test("Connection carves short reads back to back out of one slab", async () => {
  const pieces = [filled(100, 1), filled(3000, 2), filled(20_000, 3), filled(7, 4)];
  const { conn } = scriptedConn(pieces);
  const connection = new Connection(conn);
  const got = await readAll(connection);
  assert.deepEqual(got.map((piece) => piece.length), [100, 3000, 16_384, 3616, 7]);
  // One buffer, each read right after the previous one: nothing allocated
  // per read, and a frame split across reads lies in one piece of memory.
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i]!.buffer, got[0]!.buffer);
    assert.equal(got[i]!.byteOffset, got[i - 1]!.byteOffset + got[i - 1]!.length);
  }
  // Earlier views were not overwritten by later reads.
  assert.ok(got[0]!.every((byte) => byte === 1));
  assert.ok(got[1]!.every((byte) => byte === 2));
  assert.ok(got[4]!.every((byte) => byte === 4));
  connection.close();
});

Deno.test("Connection grows its read size only when a full-size read comes back full", async () => {
  // 16 KiB filled -> 32 KiB; 32 KiB filled -> 64 KiB (the largest).
  const { conn, asked } = scriptedConn([filled(200_000, 9)]);
  const connection = new Connection(conn);
  const got = await readAll(connection);
  assert.ok(got.every((piece) => piece.every((byte) => byte === 9)));
  assert.equal(got.reduce((sum, piece) => sum + piece.length, 0), 200_000);
  assert.deepEqual(asked.slice(0, 3), [16_384, 32_768, 65_536]);
  assert.ok(asked.every((size) => size <= 65_536), `asked ${asked}`);
  connection.close();
});

Deno.test("Connection reads into a slab's tail, then starts a fresh slab", async () => {
  // 256 KiB slabs: after 250,000 bytes the tail (12,144 bytes) still takes
  // a read; the next read, with under 4 KiB left, gets a new slab.
  const sizes = [65_536, 65_536, 65_536, 53_392, 12_144, 100];
  const { conn, asked } = scriptedConn(sizes.map((size, i) => filled(size, i + 1)));
  const connection = new Connection(conn);
  const got = await readAll(connection);
  const first = got[0]!.buffer;
  const lastInFirst = got.findLastIndex((piece) => piece.buffer === first);
  const inFirst = got.slice(0, lastInFirst + 1).reduce((sum, piece) => sum + piece.length, 0);
  assert.ok(inFirst > 256 * 1024 - 4096 && inFirst <= 256 * 1024, `first slab took ${inFirst}`);
  assert.notEqual(got.at(-1)!.buffer, first);
  assert.ok(asked.some((size) => size < 16_384), `a tail read, asked ${asked}`);
  // Every byte arrived once, in order.
  const expected = sizes.flatMap((size, i) => Array<number>(size).fill(i + 1));
  assert.deepEqual(got.flatMap((piece) => [...piece]), expected);
  connection.close();
});

Deno.test("Connection allocates about one byte per byte read, however short the reads", async () => {
  // 4,000 reads of 1,000 bytes: one slab per read would be 64 MiB or more.
  const pieces = Array.from({ length: 4000 }, (_, i) => filled(1000, i & 0xff));
  const { conn } = scriptedConn(pieces);
  const connection = new Connection(conn);
  const got = await readAll(connection);
  const buffers = new Set(got.map((piece) => piece.buffer));
  const total = got.reduce((sum, piece) => sum + piece.length, 0);
  assert.equal(total, 4_000_000);
  let allocated = 0;
  for (const buffer of buffers) allocated += buffer.byteLength;
  assert.ok(allocated <= total * 1.1 + 256 * 1024, `${allocated} bytes allocated for ${total}`);
  connection.close();
});
