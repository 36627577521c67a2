import assert from "node:assert/strict";
import { DockerError, DockerProtocolError, DockerStreamError } from "../../src/errors.ts";
import {
  type ByteDuplex,
  webSocketAccept,
  webSocketKey,
  type WebSocketMessage,
  webSocketSession,
} from "../../src/stream/websocket.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A one-way byte queue; `read` waits for bytes or the end. */
class Pipe {
  #chunks: Uint8Array[] = [];
  #waiters: ((value: Uint8Array | null) => void)[] = [];
  #ended = false;
  reads = 0;

  push(bytes: Uint8Array): void {
    if (this.#ended) throw new Error("pipe ended");
    const waiter = this.#waiters.shift();
    if (waiter) waiter(bytes);
    else this.#chunks.push(bytes);
  }

  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }

  get ended(): boolean {
    return this.#ended;
  }

  read(): Promise<Uint8Array | null> {
    this.reads++;
    const chunk = this.#chunks.shift();
    if (chunk) return Promise.resolve(chunk);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

interface ClientFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  key: Uint8Array;
  payload: Uint8Array;
}

/** The server end of an in-memory connection: sends raw bytes, parses (and unmasks) client frames. */
class FakeServer {
  readonly toClient = new Pipe();
  readonly fromClient = new Pipe();
  clientClosed = false;
  #buffer = new Uint8Array(0);
  readonly client: ByteDuplex = {
    read: () => this.toClient.read(),
    write: (bytes) => {
      if (this.clientClosed) return Promise.reject(new Error("write on a closed duplex"));
      this.fromClient.push(bytes.slice());
      return Promise.resolve();
    },
    close: () => {
      if (this.clientClosed) return;
      this.clientClosed = true;
      this.toClient.end();
      this.fromClient.end();
    },
  };

  send(...parts: Uint8Array[]): void {
    for (const part of parts) this.toClient.push(part);
  }

  async #need(n: number): Promise<boolean> {
    while (this.#buffer.length < n) {
      const chunk = await this.fromClient.read();
      if (chunk === null) return false;
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** The next client frame, unmasked; `null` once the client closed. */
  async frame(): Promise<ClientFrame | null> {
    if (!(await this.#need(2))) return null;
    const [b0, b1] = this.#take(2) as unknown as [number, number];
    let length = b1 & 0x7f;
    if (length === 126) {
      await this.#need(2);
      const ext = this.#take(2);
      length = (ext[0]! << 8) | ext[1]!;
    } else if (length === 127) {
      await this.#need(8);
      const ext = new DataView(this.#take(8).buffer);
      length = Number(ext.getBigUint64(0));
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Uint8Array = new Uint8Array(4);
    if (masked) {
      await this.#need(4);
      key = this.#take(4);
    }
    assert.ok(await this.#need(length), "whole payload");
    const payload = this.#take(length);
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, key, payload };
  }
}

interface ServerFrameOptions {
  fin?: boolean;
  rsv?: number;
  mask?: Uint8Array;
  /** Force the 16- or 64-bit length form. */
  lengthBits?: 7 | 16 | 64;
}

/** One server frame (unmasked unless `mask` is given). */
function frame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(0),
  options: ServerFrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const bits = options.lengthBits ?? (data.length < 126 ? 7 : data.length < 65536 ? 16 : 64);
  const extra = bits === 7 ? 0 : bits === 16 ? 2 : 8;
  const maskLength = options.mask ? 4 : 0;
  const out = new Uint8Array(2 + extra + maskLength + data.length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const maskBit = options.mask ? 0x80 : 0;
  if (bits === 7) out[1] = maskBit | data.length;
  else if (bits === 16) {
    out[1] = maskBit | 126;
    out[2] = data.length >> 8;
    out[3] = data.length & 0xff;
  } else {
    out[1] = maskBit | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(data.length));
  }
  const offset = 2 + extra + maskLength;
  if (options.mask) out.set(options.mask, 2 + extra);
  for (let i = 0; i < data.length; i++) {
    out[offset + i] = data[i]! ^ (options.mask ? options.mask[i & 3]! : 0);
  }
  return out;
}

function closeFrame(code?: number, reason = ""): Uint8Array {
  if (code === undefined) return frame(0x8);
  const text = encoder.encode(reason);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return frame(0x8, payload);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function readAll(readable: ReadableStream<WebSocketMessage>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const message of readable) out.push([message.type, decoder.decode(message.data)]);
  return out;
}

function closeCode(payload: Uint8Array): number {
  return (payload[0]! << 8) | payload[1]!;
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

Deno.test("webSocketAccept computes the RFC 6455 sample answer", async () => {
  assert.equal(await webSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("webSocketKey makes a fresh base64 key of 16 bytes", () => {
  const keys = new Set(Array.from({ length: 50 }, () => webSocketKey()));
  assert.equal(keys.size, 50);
  for (const key of keys) {
    assert.match(key, /^[A-Za-z0-9+/]{22}==$/);
    assert.equal(atob(key).length, 16);
  }
});

Deno.test("webSocketSession sends masked text and binary frames with 7, 16 and 64-bit lengths", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  const writer = session.writable.getWriter();
  const sizes = [0, 1, 125, 126, 65535, 65536, 200_000];
  const keys = new Set<string>();
  for (const size of sizes) {
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 7) & 0xff;
    await writer.write(payload);
    const got = (await server.frame())!;
    assert.ok(got.masked, "client frames are masked");
    assert.ok(got.fin);
    assert.equal(got.opcode, 0x2);
    assert.deepEqual(got.payload, payload, `size ${size}`);
    keys.add(got.key.join(","));
  }
  assert.ok(keys.size >= sizes.length - 1, "a fresh mask key per frame");
  await writer.write("héllo");
  const text = (await server.frame())!;
  assert.equal(text.opcode, 0x1);
  assert.equal(decoder.decode(text.payload), "héllo");
  await assert.rejects(writer.write(42 as unknown as string), TypeError);
  writer.releaseLock();
  await session.close();
});

Deno.test("webSocketSession reads messages with 7, 16 and 64-bit lengths", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  const big = "x".repeat(70_000);
  server.send(
    frame(0x1, "short"),
    frame(0x2, "m".repeat(300)),
    frame(0x1, big),
    frame(0x1, "forced", { lengthBits: 16 }),
    frame(0x1, "forced64", { lengthBits: 64 }),
    frame(0x2, ""),
    closeFrame(1000),
  );
  assert.deepEqual(await readAll(session.readable), [
    ["text", "short"],
    ["binary", "m".repeat(300)],
    ["text", big],
    ["text", "forced"],
    ["text", "forced64"],
    ["binary", ""],
  ]);
});

Deno.test("webSocketSession reads the same messages whatever the read split", async () => {
  const bytes = concat([
    frame(0x1, "hello"),
    frame(0x2, "b".repeat(200)),
    frame(0x1, "frag", { fin: false }),
    frame(0x9, "ping!"),
    frame(0x0, "men", { fin: false }),
    frame(0xa, "unsolicited pong"),
    frame(0x0, "ted"),
    frame(0x2, "z".repeat(300), { lengthBits: 64 }),
    closeFrame(1000, "bye"),
  ]);
  const expected: [string, string][] = [
    ["text", "hello"],
    ["binary", "b".repeat(200)],
    ["text", "fragmented"],
    ["binary", "z".repeat(300)],
  ];
  const run = async (parts: Uint8Array[]) => {
    const server = new FakeServer();
    const session = webSocketSession(server.client);
    server.send(...parts);
    const messages = await readAll(session.readable);
    const replies: ClientFrame[] = [];
    for (let reply = await server.frame(); reply; reply = await server.frame()) replies.push(reply);
    assert.deepEqual(
      replies.map((r) => [r.opcode, decoder.decode(r.payload.subarray(r.opcode === 8 ? 2 : 0))]),
      [
        [0xa, "ping!"],
        [0x8, ""],
      ],
    );
    assert.ok(server.clientClosed);
    return messages;
  };
  for (let offset = 0; offset <= bytes.length; offset++) {
    assert.deepEqual(
      await run([bytes.slice(0, offset), bytes.slice(offset)]),
      expected,
      `split at ${offset}`,
    );
  }
  for (let offset = 0; offset + 10 <= bytes.length; offset += 7) {
    const parts = [
      bytes.slice(0, offset),
      bytes.slice(offset, offset + 10),
      bytes.slice(offset + 10),
    ];
    assert.deepEqual(await run(parts), expected, `split at ${offset} and ${offset + 10}`);
  }
  const ones = Array.from(bytes, (byte) => new Uint8Array([byte]));
  assert.deepEqual(await run(ones), expected, "one byte at a time");
});

Deno.test("webSocketSession joins fragments and answers pings in between", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(
    frame(0x2, new Uint8Array([1, 2]), { fin: false }),
    frame(0x9, new Uint8Array([9, 9, 9])),
    frame(0x0, new Uint8Array([3]), { fin: false }),
    frame(0x0, new Uint8Array([4, 5])),
  );
  const reader = session.readable.getReader();
  const message = (await reader.read()).value!;
  assert.equal(message.type, "binary");
  assert.deepEqual(message.data, new Uint8Array([1, 2, 3, 4, 5]));
  const pong = (await server.frame())!;
  assert.equal(pong.opcode, 0xa);
  assert.ok(pong.masked);
  assert.deepEqual(pong.payload, new Uint8Array([9, 9, 9]));
  reader.releaseLock();
  await session.close();
});

Deno.test("webSocketSession answers the server's close frame and ends the readable", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(frame(0x1, "last"), closeFrame(1000, "bye"));
  assert.deepEqual(await readAll(session.readable), [["text", "last"]]);
  const reply = (await server.frame())!;
  assert.equal(reply.opcode, 0x8);
  assert.equal(closeCode(reply.payload), 1000);
  assert.equal(await server.frame(), null);
  assert.ok(server.clientClosed);
  await assert.rejects(session.writable.getWriter().write("late"), DockerError);
  // A close without a code is answered with an empty close frame.
  const bare = new FakeServer();
  const bareSession = webSocketSession(bare.client);
  bare.send(closeFrame());
  assert.deepEqual(await readAll(bareSession.readable), []);
  assert.equal((await bare.frame())!.payload.length, 0);
});

Deno.test("webSocketSession close() sends a close frame and ends a pending read", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  const reader = session.readable.getReader();
  const pending = reader.read();
  await session.close(4000, "done");
  const sent = (await server.frame())!;
  assert.equal(sent.opcode, 0x8);
  assert.equal(closeCode(sent.payload), 4000);
  assert.equal(decoder.decode(sent.payload.subarray(2)), "done");
  assert.equal((await pending).done, true);
  assert.ok(server.clientClosed);
  await session.close(); // twice is fine
  const { close } = session;
  await close(); // unbound too
  await assert.rejects(session.close(1005), RangeError);
  await assert.rejects(session.close(1000, "r".repeat(124)), RangeError);
});

Deno.test("webSocketSession closing the writable sends close and keeps reading until the server closes", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  const writer = session.writable.getWriter();
  await writer.write("input");
  await writer.close();
  assert.equal(decoder.decode((await server.frame())!.payload), "input");
  const sent = (await server.frame())!;
  assert.equal(sent.opcode, 0x8);
  assert.equal(closeCode(sent.payload), 1000);
  assert.ok(!server.clientClosed, "still open for the server's output");
  server.send(frame(0x1, "output after stdin closed"), closeFrame(1000));
  assert.deepEqual(await readAll(session.readable), [["text", "output after stdin closed"]]);
  assert.equal(await server.frame(), null, "no second close frame");
  assert.ok(server.clientClosed);
});

Deno.test("webSocketSession cancelling the readable closes the session", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(frame(0x1, "a"), frame(0x1, "b"));
  for await (const message of session.readable) {
    assert.equal(decoder.decode(message.data), "a");
    break;
  }
  const sent = (await server.frame())!;
  assert.equal(sent.opcode, 0x8);
  assert.ok(server.clientClosed);
});

Deno.test("webSocketSession rejects a message over maxMessageSize with close code 1009", async () => {
  for (
    const parts of [[frame(0x2, new Uint8Array(11))], [
      frame(0x2, new Uint8Array(6), { fin: false }),
      frame(0x0, new Uint8Array(6)),
    ]]
  ) {
    const server = new FakeServer();
    const session = webSocketSession(server.client, { maxMessageSize: 10 });
    server.send(frame(0x2, new Uint8Array(10)), ...parts);
    const reader = session.readable.getReader();
    assert.equal(
      (await reader.read()).value!.data.length,
      10,
      "a message of exactly the limit passes",
    );
    await assertProtocolError(
      reader.read(),
      "WEBSOCKET_MESSAGE_TOO_LARGE",
      /maxMessageSize \(10 bytes\)/,
    );
    const sent = (await server.frame())!;
    assert.equal(sent.opcode, 0x8);
    assert.equal(closeCode(sent.payload), 1009);
    assert.ok(server.clientClosed);
  }
  assert.throws(() => webSocketSession(new FakeServer().client, { maxMessageSize: 0 }), RangeError);
});

Deno.test("webSocketSession rejects a 64-bit length over the limit before reading the payload", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  const header = new Uint8Array([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]); // 4 GiB
  server.send(header);
  await assertProtocolError(readAll(session.readable), "WEBSOCKET_MESSAGE_TOO_LARGE");
  const huge = new FakeServer();
  huge.send(new Uint8Array([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]));
  await assertProtocolError(
    readAll(webSocketSession(huge.client).readable),
    "INVALID_WEBSOCKET_FRAME",
    /most significant bit/,
  );
});

Deno.test("webSocketSession rejects masked server frames with close code 1002", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(frame(0x1, "masked", { mask: new Uint8Array([1, 2, 3, 4]) }));
  await assertProtocolError(readAll(session.readable), "INVALID_WEBSOCKET_FRAME", /masked frame/);
  const sent = (await server.frame())!;
  assert.equal(sent.opcode, 0x8);
  assert.equal(closeCode(sent.payload), 1002);
  assert.ok(server.clientClosed);
});

Deno.test("webSocketSession rejects reserved bits and opcodes and malformed frames", async () => {
  const cases: [Uint8Array[], RegExp][] = [
    [[frame(0x1, "x", { rsv: 4 })], /reserved bits/],
    [[frame(0x1, "x", { rsv: 1 })], /reserved bits/],
    [[frame(0x3, "x")], /reserved data opcode 0x3/],
    [[frame(0xb, "x")], /reserved control opcode 0xb/],
    [[frame(0x0, "x")], /continuation frame without a message/],
    [[frame(0x1, "a", { fin: false }), frame(0x1, "b")], /data frame inside a fragmented message/],
    [[frame(0x9, "p", { fin: false })], /control frame is fragmented/],
    [[frame(0x9, "p".repeat(126))], /control frame is 126 bytes/],
    [[frame(0x8, new Uint8Array([3]))], /1-byte payload/],
    [[closeFrame(999)], /invalid code 999/],
    [[closeFrame(1005)], /invalid code 1005/],
  ];
  for (const [parts, pattern] of cases) {
    const server = new FakeServer();
    const session = webSocketSession(server.client);
    server.send(...parts);
    await assertProtocolError(readAll(session.readable), "INVALID_WEBSOCKET_FRAME", pattern);
    assert.ok(server.clientClosed, String(pattern));
  }
});

Deno.test("webSocketSession reports a connection that ends without a close frame", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(frame(0x1, "complete"));
  server.toClient.end();
  const reader = session.readable.getReader();
  assert.equal(decoder.decode((await reader.read()).value!.data), "complete");
  await assertProtocolError(reader.read(), "PREMATURE_CLOSE", /without a close frame/);
  assert.ok(server.clientClosed);
  for (const cut of [1, 3, 6]) {
    const broken = new FakeServer();
    broken.send(frame(0x1, "abcdefgh", { lengthBits: 16 }).subarray(0, cut));
    broken.toClient.end();
    await assertProtocolError(
      readAll(webSocketSession(broken.client).readable),
      "PREMATURE_CLOSE",
      /inside a frame/,
    );
  }
});

Deno.test("webSocketSession errors the readable when the server closes with an error code", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(closeFrame(1011, "internal"));
  await assert.rejects(readAll(session.readable), (error: unknown) => {
    assert.ok(error instanceof DockerStreamError);
    assert.match(error.message, /code 1011: internal/);
    assert.deepEqual(error.detail, { code: 1011, message: "internal" });
    return true;
  });
  assert.equal(closeCode((await server.frame())!.payload), 1011);
});

Deno.test("webSocketSession reads the connection only when the readable is pulled", async () => {
  const server = new FakeServer();
  const session = webSocketSession(server.client);
  server.send(frame(0x1, "1"), frame(0x1, "2"), frame(0x1, "3"));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(server.toClient.reads, 0);
  const reader = session.readable.getReader();
  await reader.read();
  assert.equal(server.toClient.reads, 1);
  reader.releaseLock();
  await session.close();
});

Deno.test("webSocketSession wraps a failing read in a DockerError", async () => {
  const duplex: ByteDuplex = {
    read: () => Promise.reject(new Error("connection reset")),
    write: () => Promise.resolve(),
    close: () => {},
  };
  await assert.rejects(readAll(webSocketSession(duplex).readable), (error: unknown) => {
    assert.ok(error instanceof DockerError);
    assert.match(error.message, /WebSocket read failed: connection reset/);
    return true;
  });
});
