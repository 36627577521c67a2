/**
 * Tests of `FileSync/DiffCopy` end to end: a BuildKit session served over
 * serveHttp2 with the in-memory HTTP/2 client, a directory asked for by
 * its `dir-name`, and fsutil packets both ways in gRPC framing.
 */

import assert from "node:assert/strict";
import { fields, Reader, WIRE_BYTES, WIRE_VARINT, Writer } from "../../src/build/_protobuf.ts";
import { type BuildSessionSources, sessionMethods, startSession } from "../../src/build/session.ts";
import type { Connection } from "../../src/http/connection.ts";
import {
  concat,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  FakeClient,
  type Fields,
  headersFrame,
  PREFACE,
  requestFields,
  settingsFrame,
  type StreamView,
  text,
} from "../http2/_client.ts";

const SYNC = "/moby.filesync.v1.FileSync/DiffCopy";

// Packet types.
const STAT = 0;
const REQ = 1;
const DATA = 2;
const FIN = 3;

/** A decoded fsutil `Packet`: the STAT's path and size, the ID, the data. */
interface Packet {
  type: number;
  path: string | undefined;
  size: number;
  id: number;
  data: Uint8Array;
}

function decodePacket(message: Uint8Array): Packet {
  const packet: Packet = { type: STAT, path: undefined, size: 0, id: 0, data: new Uint8Array(0) };
  fields(
    new Reader(message),
    { 1: WIRE_VARINT, 2: WIRE_BYTES, 3: WIRE_VARINT, 4: WIRE_BYTES },
    (field, part) => {
      if (field === 1) packet.type = part.varint();
      else if (field === 3) packet.id = part.varint();
      else if (field === 4) packet.data = part.bytes().slice();
      else {
        packet.path = "";
        fields(part.message(), { 1: WIRE_BYTES, 5: WIRE_VARINT }, (stat, value) => {
          if (stat === 1) packet.path = value.string();
          else packet.size = value.varint();
        });
      }
    },
  );
  return packet;
}

/** The whole gRPC messages of a response body so far, decoded. */
function packetsOf(body: Uint8Array): Packet[] {
  const packets: Packet[] = [];
  for (let at = 0; at + 5 <= body.length;) {
    assert.equal(body[at], 0, "not compressed");
    const length = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (at + 5 + length > body.length) break;
    packets.push(decodePacket(body.subarray(at + 5, at + 5 + length)));
    at += 5 + length;
  }
  return packets;
}

/** A message framed for gRPC (flag 0, 4-byte length). */
function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** A framed packet the engine sends (REQ with its ID, FIN). */
function packet(type: number, id = 0): Uint8Array {
  return grpcFrame(new Writer().varint(1, type).varint(3, id).finish());
}

const grpcFields = (extra: Fields = []): Fields => [
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ...extra,
];

/** The gRPC status and message of a finished call. */
function status(view: StreamView): { code: string | undefined; message: string } {
  const trailers = new Map(view.trailers ?? view.headers);
  return {
    code: trailers.get("grpc-status"),
    message: decodeURIComponent(trailers.get("grpc-message") ?? ""),
  };
}

/** A session served on a fresh in-memory connection. */
async function session(sources: BuildSessionSources) {
  const client = new FakeClient();
  const served = startSession("s", client as unknown as Connection, sources);
  client.send(PREFACE, settingsFrame());
  await client.sync();
  return { client, [Symbol.dispose]: () => served.close() };
}

/** Opens a DiffCopy call on `streamId` and waits for its STATs (up to the empty one). */
async function openSync(client: FakeClient, streamId: number, metadata: Fields): Promise<Packet[]> {
  client.send(
    headersFrame(streamId, requestFields(SYNC, "POST", grpcFields(metadata)), END_HEADERS),
  );
  const packets = await client.until(() => {
    const packets = packetsOf(client.stream(streamId).body);
    return packets.some((p) => p.type === STAT && p.path === undefined) ? packets : undefined;
  }, "the empty STAT");
  const end = packets.findIndex((p) => p.type === STAT && p.path === undefined);
  return packets.slice(0, end);
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function withTree(body: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "berth-filesync-session-" });
  try {
    await Deno.mkdir(`${root}/sub`);
    await Deno.writeTextFile(`${root}/a.txt`, "alpha\n");
    await Deno.writeTextFile(`${root}/sub/b.txt`, "bravo\n");
    await Deno.writeTextFile(`${root}/sub/c.md`, "charlie\n");
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("sessionMethods lists FileSync/DiffCopy when the session lends directories", () => {
  assert.ok(sessionMethods({ directories: { context: { root: "/tmp" } } }).includes(SYNC));
  assert.ok(!sessionMethods({}).includes(SYNC));
});

Deno.test("FileSync/DiffCopy sends the directory's STATs, a requested file, and FIN", async () => {
  await withTree(async (root) => {
    // Over one chunk, so the file takes two DATA packets (within the client's 64 KiB window).
    const big = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7 + 3) % 251);
    await Deno.writeFile(`${root}/sub/big.bin`, big);
    using s = await session({ directories: { context: { root, excludes: null } } });
    const { client } = s;
    const stats = await openSync(client, 1, [["dir-name", "context"]]);
    assert.deepEqual(stats.map((p) => p.path), [
      "a.txt",
      "sub",
      "sub/b.txt",
      "sub/big.bin",
      "sub/c.md",
    ]);
    assert.equal(stats[3]!.size, 40_000);

    client.send(dataFrame(1, concat(packet(REQ, 3), packet(REQ, 0))));
    client.send(dataFrame(1, packet(FIN), END_STREAM));
    const view = await client.response(1);
    assert.deepEqual(status(view), { code: "0", message: "" });
    assert.equal(new Map(view.headers).get("content-type"), "application/grpc");

    const after = packetsOf(view.body).slice(stats.length + 1);
    assert.deepEqual(after.map((p) => [p.type, p.id, p.data.length]), [
      [DATA, 3, 32 * 1024],
      [DATA, 3, 40_000 - 32 * 1024],
      [DATA, 3, 0],
      [DATA, 0, 6],
      [DATA, 0, 0],
      [FIN, 0, 0],
    ]);
    assert.deepEqual(concat(after[0]!.data, after[1]!.data), big);
    assert.equal(text(after[3]!.data), "alpha\n");
  });
});

Deno.test("FileSync/DiffCopy applies every include-patterns line and the exclude patterns", async (t) => {
  await withTree(async (root) => {
    using s = await session({ directories: { context: { root }, dockerfile: { root } } });
    const { client } = s;

    await t.step("repeated include-patterns lines: all of them", async () => {
      const stats = await openSync(client, 1, [
        ["dir-name", "context"],
        ["include-patterns", "sub/*.txt"],
        ["include-patterns", "a.txt"],
      ]);
      assert.deepEqual(stats.map((p) => p.path), ["a.txt", "sub", "sub/b.txt"]);
      client.send(dataFrame(1, concat(packet(REQ, 2), packet(FIN)), END_STREAM));
      const view = await client.response(1);
      assert.deepEqual(status(view), { code: "0", message: "" });
      const after = packetsOf(view.body).slice(stats.length + 1);
      assert.deepEqual(after.map((p) => [p.type, p.id, text(p.data)]), [
        [DATA, 2, "bravo\n"],
        [DATA, 2, ""],
        [FIN, 0, ""],
      ]);
    });

    await t.step("exclude-patterns apply when the directory sets no excludes", async () => {
      const stats = await openSync(client, 3, [
        ["dir-name", "dockerfile"],
        ["exclude-patterns", "sub/*.md"],
        ["exclude-patterns", "a.txt"],
      ]);
      assert.deepEqual(stats.map((p) => p.path), ["sub", "sub/b.txt"]);
      client.send(dataFrame(3, packet(FIN), END_STREAM));
      assert.deepEqual(status(await client.response(3)), { code: "0", message: "" });
    });
  });
});

Deno.test("FileSync/DiffCopy fails the call with a status the build shows", async (t) => {
  await withTree(async (root) => {
    using s = await session({
      directories: { context: { root, excludes: null }, gone: { root: `${root}/missing` } },
    });
    const { client } = s;

    await t.step("an unknown dir-name: NOT_FOUND naming it", async () => {
      client.send(headersFrame(
        1,
        requestFields(SYNC, "POST", grpcFields([["dir-name", "secrets"]])),
        END_HEADERS,
      ));
      const view = await client.response(1);
      assert.deepEqual(status(view), { code: "5", message: 'no access allowed to dir "secrets"' });
      assert.deepEqual(packetsOf(view.body), []);
    });

    await t.step("a directory that is not there: INTERNAL with the reason", async () => {
      client.send(headersFrame(
        3,
        requestFields(SYNC, "POST", grpcFields([["dir-name", "gone"]])),
        END_HEADERS,
      ));
      const view = await client.response(3);
      assert.equal(status(view).code, "13");
      assert.match(status(view).message, /^berth could not send the files: .*missing/);
    });

    await t.step("a REQ for a directory: INTERNAL naming the request", async () => {
      await openSync(client, 5, [["dir-name", "context"]]);
      client.send(dataFrame(5, packet(REQ, 1)));
      const view = await client.response(5);
      assert.deepEqual(status(view), {
        code: "13",
        message: "berth could not send the files: invalid file request 1",
      });
    });
  });
});
