/**
 * Tests of the BuildKit session's streaming calls, end to end over
 * serveHttp2 with the in-memory HTTP/2 client: SSH agent forwarding to a
 * fake agent on a Unix socket (read-only), and the build output
 * (`FileSend/DiffCopy`) handed to the output source.
 */

import assert from "node:assert/strict";
import { Writer } from "../../src/build/_protobuf.ts";
import {
  type BuildSessionSources,
  sessionHandler,
  sessionMethods,
  startSession,
} from "../../src/build/session.ts";
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
  utf8,
} from "../http2/_client.ts";

const FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent";
const CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent";
const DIFF_COPY = "/moby.filesync.v1.FileSend/DiffCopy";

/** A message framed for gRPC (flag 0, 4-byte length). */
function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** A framed `BytesMessage` carrying `data`. */
function bytesMessage(data: Uint8Array): Uint8Array {
  return grpcFrame(new Writer().bytes(1, data).finish());
}

/** The `data` of every framed `BytesMessage` in a response body. */
function bytesMessagesOf(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < body.length;) {
    const length = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    const message = body.subarray(at + 5, at + 5 + length);
    // Field 1, wire type 2: tag 0x0a, a varint length, the bytes.
    assert.equal(message[0], 0x0a);
    let size = 0;
    let shift = 0;
    let i = 1;
    for (;; i++) {
      size |= (message[i]! & 0x7f) << shift;
      shift += 7;
      if (!(message[i]! & 0x80)) break;
    }
    out.push(message.slice(i + 1, i + 1 + size));
    at += 5 + length;
  }
  return out;
}

/** An SSH agent message: 4-byte length, type, contents. */
function agentMessage(type: number, contents: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(5 + contents.length);
  new DataView(out.buffer).setUint32(0, 1 + contents.length);
  out[4] = type;
  out.set(contents, 5);
  return out;
}

/**
 * A fake SSH agent on a Unix socket: answers each message with type + 1
 * (11 → 12 identities, 13 → 14 signature) and its contents reversed, and
 * records the types it was sent.
 */
async function fakeAgent(): Promise<
  { path: string; received: number[]; connections: number } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "berth-agent-" });
  const path = `${dir}/agent.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const state = { path, received: [] as number[], connections: 0 };
  const serving = (async () => {
    for await (const conn of listener) {
      state.connections++;
      void (async () => {
        let pending: Uint8Array = new Uint8Array(0);
        const buffer = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            pending = concat(pending, buffer.subarray(0, n));
            while (pending.length >= 4) {
              const length = new DataView(pending.buffer, pending.byteOffset).getUint32(0);
              if (pending.length < 4 + length) break;
              const type = pending[4]!;
              state.received.push(type);
              const contents = pending.slice(5, 4 + length).reverse();
              await conn.write(agentMessage(type + 1, contents));
              pending = pending.slice(4 + length);
            }
          }
        } finally {
          conn.close();
        }
      })();
    }
  })();
  return {
    ...state,
    get received() {
      return state.received;
    },
    get connections() {
      return state.connections;
    },
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await serving.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
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

/** The gRPC status and message of a finished call. */
function status(view: StreamView): { code: string | undefined; message: string } {
  const fields = new Map(view.trailers ?? view.headers);
  return {
    code: fields.get("grpc-status"),
    message: decodeURIComponent(fields.get("grpc-message") ?? ""),
  };
}

const grpcFields = (extra: Fields = []): Fields => [
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ...extra,
];

Deno.test("sessionMethods lists what the session serves", () => {
  const base = [
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
  ];
  assert.deepEqual(sessionMethods({}), base);
  assert.deepEqual(sessionMethods({ ssh: { default: "/a" } }), [
    ...base,
    CHECK_AGENT,
    FORWARD_AGENT,
  ]);
  assert.deepEqual(sessionMethods({ output: () => Promise.resolve() }), [...base, DIFF_COPY]);
});

Deno.test("SSH/CheckAgent answers for the agents it has", async (t) => {
  const handler = sessionHandler({ ssh: { default: "/a.sock", work: "/b.sock" } });
  const call = async (id: string) => {
    const body = grpcFrame(new Writer().bytes(1, id).finish());
    const response = await handler({
      streamId: 1,
      method: "POST",
      path: CHECK_AGENT,
      headers: requestFields(CHECK_AGENT, "POST", grpcFields()),
      body,
    });
    return new Map(response.trailers);
  };
  await t.step("a known id, and the empty id as default", async () => {
    assert.equal((await call("work")).get("grpc-status"), "0");
    assert.equal((await call("")).get("grpc-status"), "0");
  });
  await t.step("an unknown id: NOT_FOUND naming it", async () => {
    const trailers = await call("other");
    assert.equal(trailers.get("grpc-status"), "5");
    assert.match(decodeURIComponent(trailers.get("grpc-message")!), /unset ssh forward key other/);
  });
  await t.step("a session without agents: UNIMPLEMENTED", async () => {
    const response = await sessionHandler({})({
      streamId: 1,
      method: "POST",
      path: CHECK_AGENT,
      headers: [],
      body: grpcFrame(new Uint8Array(0)),
    });
    assert.equal(new Map(response.trailers).get("grpc-status"), "12");
  });
});

Deno.test("SSH/ForwardAgent relays listing and signing to the agent, and refuses the rest", async () => {
  await using agent = await fakeAgent();
  using s = await session({ ssh: { work: agent.path } });
  const { client } = s;
  client.send(headersFrame(
    1,
    requestFields(FORWARD_AGENT, "POST", grpcFields([["buildkit.ssh.id", "work"]])),
    END_HEADERS,
  ));
  // Three agent requests in two BytesMessages, cut inside the second request.
  const requests = concat(
    agentMessage(11),
    agentMessage(19), // REMOVE_ALL_IDENTITIES: refused
    agentMessage(13, utf8.encode("sign me")),
    agentMessage(17, utf8.encode("a key")), // ADD_IDENTITY: refused
    agentMessage(27, utf8.encode("ext")), // extension: refused
  );
  const body = concat(bytesMessage(requests.subarray(0, 7)), bytesMessage(requests.subarray(7)));
  // The gRPC framing is cut across DATA frames too.
  client.send(dataFrame(1, body.subarray(0, 3)), dataFrame(1, body.subarray(3, 20)));
  client.send(dataFrame(1, body.subarray(20), END_STREAM));
  const view = await client.response(1);
  assert.deepEqual(status(view), { code: "0", message: "" });
  const answers = bytesMessagesOf(view.body);
  assert.deepEqual(answers.map((answer) => answer[4]), [12, 5, 14, 5, 5]);
  assert.equal(text(answers[2]!.subarray(5)), "em ngis");
  assert.deepEqual(agent.received, [11, 13], "only listing and signing reach the agent");
  assert.equal(agent.connections, 1);
});

Deno.test("SSH/ForwardAgent fails the call with a reason the build shows", async (t) => {
  await using agent = await fakeAgent();

  await t.step("an id without an agent: NOT_FOUND", async () => {
    using s = await session({ ssh: { default: agent.path } });
    s.client.send(headersFrame(
      1,
      requestFields(FORWARD_AGENT, "POST", grpcFields([["buildkit.ssh.id", "deploy"]])),
      END_HEADERS,
    ));
    const view = await s.client.response(1);
    assert.deepEqual(status(view), { code: "5", message: "unset ssh forward key deploy" });
  });

  await t.step("an agent socket that is not there: UNAVAILABLE naming it", async () => {
    using s = await session({ ssh: { default: `${agent.path}.missing` } });
    s.client.send(
      headersFrame(1, requestFields(FORWARD_AGENT, "POST", grpcFields()), END_HEADERS),
      dataFrame(1, bytesMessage(agentMessage(11))),
    );
    const view = await s.client.response(1);
    assert.equal(status(view).code, "14");
    assert.match(status(view).message, /Cannot reach the SSH agent at .*agent\.sock\.missing/);
  });

  await t.step("an agent message over 256 KiB: UNAVAILABLE", async () => {
    using s = await session({ ssh: { default: agent.path } });
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, 300 * 1024);
    s.client.send(
      headersFrame(1, requestFields(FORWARD_AGENT, "POST", grpcFields()), END_HEADERS),
      dataFrame(1, bytesMessage(huge)),
    );
    const view = await s.client.response(1);
    assert.equal(status(view).code, "14");
    assert.match(status(view).message, /the build sent an SSH agent message of 307200 bytes/);
  });

  await t.step("a call that ends inside an agent message: UNAVAILABLE", async () => {
    using s = await session({ ssh: { default: agent.path } });
    s.client.send(
      headersFrame(1, requestFields(FORWARD_AGENT, "POST", grpcFields()), END_HEADERS),
      dataFrame(1, bytesMessage(agentMessage(11).subarray(0, 3)), END_STREAM),
    );
    const view = await s.client.response(1);
    assert.equal(status(view).code, "14");
    assert.match(status(view).message, /partial SSH agent message/);
  });

  await t.step("a compressed gRPC message: UNIMPLEMENTED", async () => {
    using s = await session({ ssh: { default: agent.path } });
    const compressed = bytesMessage(agentMessage(11));
    compressed[0] = 1;
    s.client.send(
      headersFrame(1, requestFields(FORWARD_AGENT, "POST", grpcFields()), END_HEADERS),
      dataFrame(1, compressed),
    );
    assert.equal(status(await s.client.response(1)).code, "12");
  });
});

Deno.test("FileSend/DiffCopy hands the output to its source and answers once it is stored", async (t) => {
  const stored = Promise.withResolvers<void>();
  const received: Uint8Array[] = [];
  let calls = 0;
  using s = await session({
    output: async (archive) => {
      calls++;
      for await (const piece of archive) received.push(piece);
      await stored.promise;
    },
  });
  const { client } = s;

  await t.step("every byte arrives, in order, and the answer waits for the source", async () => {
    const payload = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
    const body = concat(
      bytesMessage(payload.subarray(0, 40_000)),
      bytesMessage(new Uint8Array(0)),
      grpcFrame(new Uint8Array(0)), // proto3's empty BytesMessage: no bytes at all
      bytesMessage(payload.subarray(40_000)),
    );
    client.send(headersFrame(1, requestFields(DIFF_COPY, "POST", grpcFields()), END_HEADERS));
    for (let at = 0; at < body.length; at += 16_384) {
      const end = Math.min(at + 16_384, body.length);
      client.send(dataFrame(1, body.subarray(at, end), end === body.length ? END_STREAM : 0));
    }
    await client.until(
      () => received.reduce((sum, piece) => sum + piece.length, 0) === payload.length || undefined,
      "the whole output",
    );
    await client.sync();
    assert.equal(client.stream(1).trailers, undefined, "no answer before the output is stored");
    stored.resolve();
    const view = await client.response(1);
    assert.deepEqual(status(view), { code: "0", message: "" });
    assert.deepEqual(concat(...received), payload);
  });

  await t.step("a second output call: ALREADY_EXISTS", async () => {
    client.send(headersFrame(3, requestFields(DIFF_COPY, "POST", grpcFields()), END_HEADERS));
    assert.equal(status(await client.response(3)).code, "6");
    assert.equal(calls, 1);
  });
});

Deno.test("FileSend/DiffCopy reports a source that could not store the output", async () => {
  using s = await session({
    output: async (archive) => {
      for await (const _ of archive) throw new Error("disk full");
    },
  });
  s.client.send(
    headersFrame(1, requestFields(DIFF_COPY, "POST", grpcFields()), END_HEADERS),
    dataFrame(1, bytesMessage(utf8.encode("tar bytes"))),
  );
  const view = await s.client.response(1);
  assert.deepEqual(status(view), {
    code: "13",
    message: "berth could not store the build output: disk full",
  });
});

Deno.test("FileSend/DiffCopy is not served without an output source", async () => {
  using s = await session({});
  s.client.send(
    headersFrame(1, requestFields(DIFF_COPY, "POST", grpcFields()), END_HEADERS),
    dataFrame(1, bytesMessage(utf8.encode("x")), END_STREAM),
  );
  assert.equal(status(await s.client.response(1)).code, "12");
});

Deno.test("FileSend/DiffCopy skips an empty message that ends a DATA frame", async () => {
  const received: Uint8Array[] = [];
  using s = await session({
    output: async (archive) => {
      for await (const piece of archive) received.push(piece);
    },
  });
  s.client.send(
    headersFrame(1, requestFields(DIFF_COPY, "POST", grpcFields()), END_HEADERS),
    dataFrame(1, grpcFrame(new Uint8Array(0))),
  );
  s.client.send(dataFrame(1, bytesMessage(utf8.encode("after")), END_STREAM));
  const view = await s.client.response(1);
  assert.deepEqual(status(view), { code: "0", message: "" });
  assert.deepEqual(received.map(text), ["after"]);
});
