/**
 * A fake fsutil receiver for the tests of `sendDirectory` (the sending side
 * of DiffCopy): the packet and mode constants, a decoder of every framed
 * packet berth writes, field by field (fsutil types/wire.proto and
 * types/stat.proto), and small file-tree helpers.
 */

import assert from "node:assert/strict";
import { fields, Reader, WIRE_BYTES, WIRE_VARINT, Writer } from "../../src/build/_protobuf.ts";
import {
  sendDirectory,
  type SyncedDirectory,
  type SyncRequest,
  type SyncSummary,
} from "../../src/build/filesync.ts";

// Packet types.
export const STAT = 0;
export const REQ = 1;
export const DATA = 2;
export const FIN = 3;
export const ERR = 4;

// Go os.FileMode bits.
export const MODE_DIR = 2 ** 31;
export const MODE_SYMLINK = 2 ** 27;
export const MODE_DEVICE = 2 ** 26;
export const MODE_NAMED_PIPE = 2 ** 25;
export const MODE_SOCKET = 2 ** 24;
export const MODE_SETUID = 2 ** 23;
export const MODE_SETGID = 2 ** 22;
export const MODE_CHAR_DEVICE = 2 ** 21;
export const MODE_STICKY = 2 ** 20;

/** Whether a Go mode has `bit` set (`&` would be signed 32-bit for ModeDir). */
export function has(mode: number, bit: number): boolean {
  return Math.floor(mode / bit) % 2 === 1;
}

/** Bytes of file data per DATA packet at most. */
export const CHUNK = 32 * 1024;

/** A decoded fsutil `Stat`; `present` lists the fields that were on the wire. */
export interface Stat {
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
export interface Packet {
  type: number;
  id: number;
  stat: Stat | undefined;
  data: Uint8Array;
}

export function decodeStat(reader: Reader): Stat {
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

export function decodePacket(message: Uint8Array): Packet {
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
export function packet(type: number, id = 0, data = ""): Uint8Array {
  return new Writer().varint(1, type).varint(3, id).bytes(4, data).finish();
}

/**
 * The receiving end: a queue of packets for `messages`, and a `write` that
 * checks each frame's gRPC prefix and decodes the packet in it.
 */
export class FakeReceiver {
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

export function isEnd(p: Packet, id: number): boolean {
  return p.type === DATA && p.id === id && p.data.length === 0;
}

/** Starts a transfer of `directory` to a new fake receiver. */
export function transfer(directory: SyncedDirectory, request: SyncRequest = {}) {
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
export async function statsOf(
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
export async function pathsOf(
  directory: SyncedDirectory,
  request: SyncRequest = {},
): Promise<string[]> {
  return (await statsOf(directory, request)).stats.map((stat) => stat.path);
}

/** Writes a file (and its directories) under `root`. */
export async function write(root: string, path: string, data: string | Uint8Array, mode = 0o644) {
  const full = `${root}/${path}`;
  await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(full, data);
  else await Deno.writeFile(full, data);
  await Deno.chmod(full, mode);
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export async function withTree(body: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "berth-filesync-" });
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** `size` random bytes. */
export function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(at + 65_536, size)));
  }
  return bytes;
}

/** An entry's modTime as sent: its mtime in whole milliseconds, in nanoseconds. */
export async function modTimeOf(path: string): Promise<number> {
  const info = await Deno.lstat(path);
  return Number(BigInt(info.mtime!.getTime()) * 1_000_000n);
}

/** The index of each path among the STATs. */
export function indexes(stats: Stat[]): Map<string, number> {
  return new Map(stats.map((stat, i) => [stat.path, i]));
}
