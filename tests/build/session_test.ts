/**
 * Tests of the BuildKit session's gRPC handler: requests built as the
 * engine sends them (gRPC framing around protobuf messages), answers
 * decoded field by field, and one call end to end over serveHttp2 with the
 * in-memory HTTP/2 client of tests/http2/_client.ts.
 */

import assert from "node:assert/strict";
import type { RegistryAuth } from "../../src/auth.ts";
import { fields, Reader, WIRE_BYTES, WIRE_VARINT, Writer } from "../../src/build/_protobuf.ts";
import { credentialsFromMap, sessionHandler, startSession } from "../../src/build/session.ts";
import type { Connection } from "../../src/http/connection.ts";
import type { Http2Request, Http2Response } from "../../src/http2/server.ts";
import {
  concat,
  connect,
  DATA,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  FakeClient,
  type Fields,
  GOAWAY,
  HEADERS,
  headersFrame,
  PREFACE,
  requestFields,
  RST_STREAM,
  settingsFrame,
  stop,
  text,
  utf8,
  WINDOW_UPDATE,
} from "../http2/_client.ts";

const HEALTH = "/grpc.health.v1.Health/Check";
const CREDENTIALS = "/moby.filesync.v1.Auth/Credentials";
const GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret";

/** The headers the engine sends after the pseudo-headers of a gRPC call. */
const GRPC_FIELDS: Fields = [["content-type", "application/grpc"], ["te", "trailers"]];

// gRPC status codes.
const OK = 0;
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;

/** A unary call's body: compressed flag, 4-byte big-endian length, message. */
function grpcBody(message: Uint8Array, flag = 0, length = message.length): Uint8Array {
  const body = new Uint8Array(5 + message.length);
  body[0] = flag;
  new DataView(body.buffer).setUint32(1, length);
  body.set(message, 5);
  return body;
}

/** A message whose field 1 is the string `value` (a host, a secret id). */
function field1(value: string): Uint8Array {
  return new Writer().bytes(1, value).finish();
}

/** A unary call as serveHttp2 hands it to the handler, on stream 1. */
function request(path: string, body: Uint8Array, method = "POST"): Http2Request {
  return {
    streamId: 1,
    method,
    path,
    headers: requestFields(path, method, GRPC_FIELDS),
    body,
  };
}

/** The one message of a response body, after checking its framing. */
function unframe(body: Uint8Array | undefined): Uint8Array {
  assert.ok(body !== undefined, "the response has a body");
  assert.ok(body.length >= 5);
  assert.equal(body[0], 0, "not compressed");
  const length = new DataView(body.buffer, body.byteOffset, body.length).getUint32(1);
  assert.equal(length, body.length - 5);
  return body.subarray(5);
}

/** The length-delimited fields of a message, by field number, as bytes. */
function bytesFields(message: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  fields(new Reader(message), { 1: WIRE_BYTES, 2: WIRE_BYTES }, (field, reader) => {
    out.set(field, reader.bytes().slice());
  });
  return out;
}

function trailer(response: Http2Response, name: string): string | undefined {
  return response.trailers?.find(([key]) => key === name)?.[1];
}

/** Checks content-type and a grpc-status trailer, and returns the response. */
function assertStatus(response: Http2Response, status: number): Http2Response {
  assert.ok(
    response.headers?.some(([name, value]) =>
      name === "content-type" && value === "application/grpc"
    ),
    "content-type application/grpc",
  );
  assert.equal(response.status ?? 200, 200);
  assert.equal(trailer(response, "grpc-status"), String(status));
  if (status !== OK) {
    assert.equal(response.body === undefined || response.body.length === 0, true);
  }
  return response;
}

/** Calls a method and returns the answer's message, checking grpc-status 0. */
async function callOk(
  handler: (request: Http2Request) => Promise<Http2Response>,
  path: string,
  message: Uint8Array,
): Promise<Uint8Array> {
  const response = assertStatus(await handler(request(path, grpcBody(message))), OK);
  return unframe(response.body);
}

Deno.test("sessionHandler answers Health/Check with SERVING", async (t) => {
  const handler = sessionHandler({});

  await t.step("an empty request message", async () => {
    const message = await callOk(handler, HEALTH, new Uint8Array(0));
    const values: number[] = [];
    fields(new Reader(message), { 1: WIRE_VARINT }, (_field, reader) => {
      values.push(reader.varint());
    });
    assert.deepEqual(values, [1]);
    assert.deepEqual(message, Uint8Array.of(0x08, 0x01));
  });

  await t.step("a request naming a service", async () => {
    const message = await callOk(handler, HEALTH, field1("moby.buildkit.v1.Control"));
    assert.deepEqual(message, Uint8Array.of(0x08, 0x01));
  });
});

Deno.test("sessionHandler answers Auth/Credentials from the credentials lookup", async (t) => {
  const asked: string[] = [];
  const store: Record<string, RegistryAuth> = {
    "registry.example.com": { username: "alice", password: "s3cret" },
    "token.example.com": { username: "ignored", password: "ignored", identitytoken: "tok-123" },
  };
  const handler = sessionHandler({
    credentials: (host) => {
      asked.push(host);
      return Promise.resolve(store[host]);
    },
  });

  await t.step("a known host: Username (1) and Secret (2)", async () => {
    const message = await callOk(handler, CREDENTIALS, field1("registry.example.com"));
    const got = bytesFields(message);
    assert.equal(text(got.get(1)!), "alice");
    assert.equal(text(got.get(2)!), "s3cret");
    assert.deepEqual([...got.keys()], [1, 2]);
  });

  await t.step("an identity token: only Secret (2), the token", async () => {
    const message = await callOk(handler, CREDENTIALS, field1("token.example.com"));
    const got = bytesFields(message);
    assert.deepEqual([...got.keys()], [2]);
    assert.equal(text(got.get(2)!), "tok-123");
  });

  await t.step("an unknown host: an empty message, status 0", async () => {
    const message = await callOk(handler, CREDENTIALS, field1("other.example.com"));
    assert.deepEqual(message, new Uint8Array(0));
  });

  await t.step("an empty host: an empty message, no lookup", async () => {
    const before = asked.length;
    assert.deepEqual(await callOk(handler, CREDENTIALS, new Uint8Array(0)), new Uint8Array(0));
    assert.deepEqual(await callOk(handler, CREDENTIALS, field1("")), new Uint8Array(0));
    assert.equal(asked.length, before);
  });

  await t.step("unknown fields around the host are skipped", async () => {
    const message = concat(
      new Writer().varint(7, 300).finish(),
      field1("registry.example.com"),
      new Writer().bytes(9, "extra").finish(),
    );
    const got = bytesFields(await callOk(handler, CREDENTIALS, message));
    assert.equal(text(got.get(1)!), "alice");
    assert.equal(asked.at(-1), "registry.example.com");
  });

  await t.step("no credentials lookup: an empty message", async () => {
    const message = await callOk(sessionHandler({}), CREDENTIALS, field1("registry.example.com"));
    assert.deepEqual(message, new Uint8Array(0));
  });
});

Deno.test("sessionHandler answers INTERNAL without the details when the credentials lookup fails", async (t) => {
  const password = "hunter2-very-secret";
  const cases: [string, (host: string) => Promise<RegistryAuth | undefined>][] = [
    [
      "a rejected promise",
      () => Promise.reject(new Error(`login failed with password ${password}`)),
    ],
    ["a synchronous throw", () => {
      throw new Error(`login failed with password ${password}`);
    }],
  ];
  for (const [name, credentials] of cases) {
    await t.step(name, async () => {
      const handler = sessionHandler({ credentials });
      const response = assertStatus(
        await handler(request(CREDENTIALS, grpcBody(field1("registry.example.com")))),
        INTERNAL,
      );
      const message = trailer(response, "grpc-message");
      assert.ok(message !== undefined && message.length > 0);
      assert.ok(!decodeURIComponent(message).includes(password));
      assert.ok(!decodeURIComponent(message).includes("hunter2"));
    });
  }
});

Deno.test("credentialsFromMap answers by registry host", async (t) => {
  const hub: RegistryAuth = { username: "hubuser", password: "hubpass" };
  const local: RegistryAuth = { username: "me", password: "pw" };
  const lookup = credentialsFromMap({
    "https://index.docker.io/v1/": hub,
    "registry.example.com:5000": local,
  });

  await t.step("Docker Hub's key answers registry-1.docker.io", async () => {
    assert.deepEqual(await lookup("registry-1.docker.io"), hub);
    assert.deepEqual(await lookup("docker.io"), hub);
  });

  await t.step("host:port answers that host", async () => {
    assert.deepEqual(await lookup("registry.example.com:5000"), local);
    assert.equal(await lookup("registry.example.com"), undefined);
    assert.equal(await lookup("other.example.com:5000"), undefined);
  });

  await t.step("through sessionHandler", async () => {
    const handler = sessionHandler({ credentials: lookup });
    const got = bytesFields(await callOk(handler, CREDENTIALS, field1("registry-1.docker.io")));
    assert.equal(text(got.get(1)!), "hubuser");
    assert.equal(text(got.get(2)!), "hubpass");
    const mine = bytesFields(
      await callOk(handler, CREDENTIALS, field1("registry.example.com:5000")),
    );
    assert.equal(text(mine.get(1)!), "me");
    assert.equal(text(mine.get(2)!), "pw");
  });
});

Deno.test("sessionHandler answers Secrets/GetSecret with the secret's exact bytes", async (t) => {
  const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
  const handler = sessionHandler({
    secrets: { token: "s3cret ✓\n", binary, "npm.rc": "//registry/:_authToken=x" },
  });

  await t.step("a string value, as UTF-8", async () => {
    const got = bytesFields(await callOk(handler, GET_SECRET, field1("token")));
    assert.deepEqual(got.get(1), utf8.encode("s3cret ✓\n"));
  });

  await t.step("a Uint8Array value", async () => {
    const got = bytesFields(await callOk(handler, GET_SECRET, field1("binary")));
    assert.deepEqual(got.get(1), binary);
  });

  await t.step("an id with a dot", async () => {
    const got = bytesFields(await callOk(handler, GET_SECRET, field1("npm.rc")));
    assert.equal(text(got.get(1)!), "//registry/:_authToken=x");
  });

  await t.step("an empty value: an empty message, status 0", async () => {
    const secrets = { empty: "", none: new Uint8Array(0) };
    for (const id of ["empty", "none"]) {
      assert.deepEqual(
        await callOk(sessionHandler({ secrets }), GET_SECRET, field1(id)),
        new Uint8Array(0),
      );
    }
  });

  await t.step("an own property named __proto__ is a secret like any other", async () => {
    const secrets = JSON.parse('{"__proto__": "proto-value"}') as Record<string, string>;
    const got = bytesFields(
      await callOk(sessionHandler({ secrets }), GET_SECRET, field1("__proto__")),
    );
    assert.equal(text(got.get(1)!), "proto-value");
  });
});

Deno.test("sessionHandler answers NOT_FOUND for a secret it does not have", async (t) => {
  const handler = sessionHandler({ secrets: { token: "x" } });

  await t.step("the message names the id, percent-encoded", async () => {
    const id = "no such/id%✓";
    const response = assertStatus(
      await handler(request(GET_SECRET, grpcBody(field1(id)))),
      NOT_FOUND,
    );
    const message = trailer(response, "grpc-message")!;
    assert.ok(message.includes(encodeURIComponent(id)), message);
    assert.ok(decodeURIComponent(message).includes(id));
    // Percent-encoded: printable ASCII only, no raw space or "%" but as an escape.
    assert.match(message, /^([\x21-\x24\x26-\x7e]|%[0-9A-F]{2})*$/);
  });

  for (const id of ["__proto__", "constructor", "toString", "hasOwnProperty", ""]) {
    await t.step(`an inherited name: ${JSON.stringify(id)}`, async () => {
      assertStatus(await handler(request(GET_SECRET, grpcBody(field1(id)))), NOT_FOUND);
    });
  }

  await t.step("no secrets at all", async () => {
    const response = await sessionHandler({})(request(GET_SECRET, grpcBody(field1("token"))));
    assertStatus(response, NOT_FOUND);
  });
});

Deno.test("sessionHandler rejects what is not a well-formed unary call", async (t) => {
  const handler = sessionHandler({ secrets: { token: "x" } });
  const cases: [string, Http2Request, number][] = [
    [
      "an unknown path",
      request("/moby.sshforward.v1.SSH/CheckAgent", grpcBody(new Uint8Array(0))),
      UNIMPLEMENTED,
    ],
    ["GET", request(HEALTH, grpcBody(new Uint8Array(0)), "GET"), UNIMPLEMENTED],
    ["an empty body", request(HEALTH, new Uint8Array(0)), INVALID_ARGUMENT],
    ["a body of 4 bytes", request(GET_SECRET, Uint8Array.of(0, 0, 0, 0)), INVALID_ARGUMENT],
    ["the compressed flag", request(GET_SECRET, grpcBody(field1("token"), 1)), UNIMPLEMENTED],
    [
      "a length longer than the message",
      request(GET_SECRET, grpcBody(field1("token"), 0, 100)),
      INVALID_ARGUMENT,
    ],
    [
      "a length shorter than the message",
      request(GET_SECRET, grpcBody(field1("token"), 0, 2)),
      INVALID_ARGUMENT,
    ],
    [
      "field 1 with a truncated length",
      request(GET_SECRET, grpcBody(Uint8Array.of(0x0a, 0x10, 0x61))),
      INVALID_ARGUMENT,
    ],
    [
      "field 1 as a varint",
      request(CREDENTIALS, grpcBody(new Writer().varint(1, 5).finish())),
      INVALID_ARGUMENT,
    ],
    ["a truncated tag", request(CREDENTIALS, grpcBody(Uint8Array.of(0x80))), INVALID_ARGUMENT],
    [
      "a malformed Health/Check body",
      request(HEALTH, grpcBody(new Uint8Array(0), 0, 1)),
      INVALID_ARGUMENT,
    ],
  ];
  for (const [name, call, status] of cases) {
    await t.step(`${name} → ${status}`, async () => {
      const response = assertStatus(await handler(call), status);
      const message = trailer(response, "grpc-message");
      assert.ok(message !== undefined && message.length > 0);
    });
  }
});

Deno.test("sessionHandler serves GetSecret end to end over serveHttp2", async (t) => {
  const { client, server } = await connect(
    sessionHandler({ secrets: { token: "s3cret-value" } }),
  );
  const headers = requestFields(GET_SECRET, "POST", GRPC_FIELDS);

  await t.step("a known secret: DATA with the message, then grpc-status 0", async () => {
    client.send(
      headersFrame(1, headers, END_HEADERS),
      dataFrame(1, grpcBody(field1("token")), END_STREAM),
    );
    const { frames } = await client.response(1);
    assert.deepEqual(frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_HEADERS],
      [DATA, 0],
      [HEADERS, END_HEADERS | END_STREAM],
    ]);
    assert.deepEqual(frames[0]!.fields, [[":status", "200"], ["content-type", "application/grpc"]]);
    const got = bytesFields(unframe(frames[1]!.payload));
    assert.equal(text(got.get(1)!), "s3cret-value");
    assert.deepEqual(frames[2]!.fields, [["grpc-status", "0"]]);
  });

  await t.step("an unknown secret: trailers only, grpc-status 5", async () => {
    client.send(
      headersFrame(3, headers, END_HEADERS),
      dataFrame(3, grpcBody(field1("missing")), END_STREAM),
    );
    const { frames } = await client.response(3);
    assert.deepEqual(frames.map((f) => f.type), [HEADERS, HEADERS]);
    const trailers = new Map(frames[1]!.fields);
    assert.equal(trailers.get("grpc-status"), "5");
    assert.match(trailers.get("grpc-message")!, /missing/);
  });

  await stop(client, server);
  assert.equal(client.frames.at(-1)!.type, GOAWAY);
});

Deno.test("startSession serves the session on the connection until close", async (t) => {
  const client = new FakeClient();
  // The fake implements the part of Connection serveHttp2 uses: read, write, close.
  const session = startSession("session-1", client as unknown as Connection, {
    secrets: { token: "from-start" },
  });
  assert.equal(session.id, "session-1");
  client.send(PREFACE, settingsFrame());
  const headers = requestFields(GET_SECRET);

  await t.step("a GetSecret call is answered", async () => {
    client.send(
      headersFrame(1, headers, END_HEADERS),
      dataFrame(1, grpcBody(field1("token")), END_STREAM),
    );
    const { frames } = await client.response(1);
    const data = frames.find((f) => f.type === DATA)!;
    assert.equal(text(bytesFields(unframe(data.payload)).get(1)!), "from-start");
    assert.deepEqual(frames.at(-1)!.fields, [["grpc-status", "0"]]);
  });

  await t.step("a request body over 1 MiB resets its stream", async () => {
    const body = grpcBody(new Uint8Array(1024 * 1024));
    const parts = [headersFrame(3, headers, END_HEADERS)];
    for (let at = 0; at < body.length; at += 16_384) {
      const end = Math.min(at + 16_384, body.length);
      parts.push(dataFrame(3, body.subarray(at, end), end === body.length ? END_STREAM : 0));
    }
    client.send(...parts);
    const { frames } = await client.response(3);
    // WINDOW_UPDATEs gave the stream's window back while the body came in.
    assert.deepEqual(frames.map((f) => f.type).filter((type) => type !== WINDOW_UPDATE), [
      RST_STREAM,
    ]);
  });

  await t.step("close sends GOAWAY and closes the connection", async () => {
    session.close();
    session.close();
    await client.until(() => client.closed ? true : undefined, "the close");
    assert.equal(client.frames.filter((f) => f.type === GOAWAY).length, 1);
  });
});
