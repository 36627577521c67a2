import assert from "node:assert/strict";
import type { DockerProtocolErrorCode } from "../../src/errors.ts";
import { HttpClient, type HttpClientOptions } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import {
  concat,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
  tappedConnector,
  waitFor,
} from "../_fake_engine.ts";
import { assertProtocolError } from "../_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function head(text: string): Uint8Array {
  return encoder.encode(text);
}

async function expectProtocolError(
  promise: Promise<unknown>,
  code: DockerProtocolErrorCode,
  request?: string,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assertProtocolError(error, code);
    // The message names the request it came from.
    if (request) assert.ok((error as Error).message.startsWith(`${request}: `), String(error));
    return;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

// ---------------------------------------------------------------------------
// Over the wire: splits at every offset
// ---------------------------------------------------------------------------

/**
 * Serves `response` once per request, split as the request target says
 * (`/split/<offset>` = two writes, `/bytes` = one write per byte). Each write
 * waits until the client has read the previous one, so every split really
 * reaches the parser as separate reads.
 */
async function checkEverySplit(
  response: Uint8Array,
  check: (status: number, headers: Headers, body: string, label: string) => void,
): Promise<void> {
  const tapHolder: { tap?: ReturnType<typeof tappedConnector> } = {};
  await using engine = await startFakeEngine(async (connection) => {
    const tap = tapHolder.tap!;
    let sent = 0;
    while (true) {
      const request = await connection.readRequest();
      if (!request) return;
      let parts: Uint8Array[];
      if (request.target === "/bytes") {
        parts = Array.from(response, (_, i) => response.subarray(i, i + 1));
      } else {
        const at = Number(request.target.slice("/split/".length));
        parts = [response.subarray(0, at), response.subarray(at)];
      }
      for (const part of parts) {
        await connection.write(part);
        sent += part.length;
        await tap.waitForRead(sent);
      }
    }
  });
  const tap = tappedConnector(engine.host);
  tapHolder.tap = tap;
  const client = new HttpClient({ connect: tap.connect, host: engine.host, hostHeader: "docker" });
  try {
    const targets = ["/bytes"];
    for (let at = 1; at < response.length; at++) targets.push(`/split/${at}`);
    for (const target of targets) {
      const result = await client.request({
        method: "GET",
        target,
        signal: AbortSignal.timeout(2000),
      });
      const body = decoder.decode(await result.bytes());
      check(result.status, new Headers(result.headers.toObject()), body, target);
    }
    // Every response ended exactly where its framing said: one connection.
    assert.equal(engine.connections, 1);
    assert.equal(tap.opened, 1);
  } finally {
    client.close();
  }
}

Deno.test("HttpClient parses a Content-Length response split into two writes at every offset", async () => {
  const response = head(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Many: a\r\nX-Many: b\r\n" +
      "Content-Length: 22\r\n\r\nhello world\r\n\r\nsplit!!",
  );
  await checkEverySplit(response, (status, headers, body, label) => {
    assert.equal(status, 200, label);
    assert.equal(headers.get("content-type"), "text/plain", label);
    assert.equal(headers.get("x-many"), "a, b", label);
    assert.equal(body, "hello world\r\n\r\nsplit!!", label);
  });
});

Deno.test("HttpClient parses a chunked response with extensions and trailers split at every offset", async () => {
  const response = head(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
      "5;name=value\r\nhello\r\n" +
      '7;a=1;b="x y"\r\n world\n\r\n' +
      "A\r\n\r\n01234567\r\n" +
      "0;last=1\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",
  );
  await checkEverySplit(response, (status, headers, body, label) => {
    assert.equal(status, 200, label);
    assert.equal(headers.get("content-type"), "text/plain", label);
    assert.equal(body, "hello world\n\r\n01234567", label);
  });
});

// ---------------------------------------------------------------------------
// Framing over the wire
// ---------------------------------------------------------------------------

Deno.test("HttpClient reads a Content-Length body exactly and reuses the connection", async () => {
  const payload = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  await using engine = await startFakeEngine(
    respondEach((request) => httpResponse(200, request.target === "/big" ? payload : "tiny")),
  );
  const client = newClient(engine);
  try {
    const big = await client.request({ method: "GET", target: "/big" });
    assert.equal(big.headers.get("content-length"), "300000");
    assert.deepEqual(await big.bytes(), payload);
    const tiny = await client.request({ method: "GET", target: "/tiny" });
    assert.equal(await tiny.text(), "tiny");
    const empty = await client.request({ method: "GET", target: "/empty" });
    assert.equal(empty.status, 200);
    assert.equal(await empty.text(), "tiny");
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient reads a chunked body exactly across many chunks", async () => {
  const payload = new Uint8Array(200_000).map((_, i) => (i * 13) & 0xff);
  const body = concat([
    head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    // Chunk sizes of 1, 2, 3, ... bytes, then the rest in one chunk.
    (() => {
      const sizes: number[] = [];
      for (let size = 1, total = 0; total < 50_000; total += size, size++) sizes.push(size);
      const parts: Uint8Array[] = [];
      let offset = 0;
      for (const size of [...sizes, payload.length]) {
        const piece = payload.subarray(offset, Math.min(payload.length, offset + size));
        if (piece.length === 0) break;
        parts.push(head(`${piece.length.toString(16)}\r\n`), piece, head("\r\n"));
        offset += piece.length;
      }
      parts.push(head("0\r\n\r\n"));
      return concat(parts);
    })(),
  ]);
  await using engine = await startFakeEngine(respondEach(() => body));
  const client = newClient(engine);
  try {
    for (let i = 0; i < 2; i++) {
      const response = await client.request({ method: "GET", target: "/chunked" });
      assert.deepEqual(await response.bytes(), payload);
    }
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient reads a close-delimited body to EOF and does not reuse the connection", async () => {
  await using engine = await startFakeEngine(async (connection, index) => {
    const request = await connection.readRequest();
    if (!request) return;
    if (index === 0) {
      await connection.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
      await connection.write("all of this ");
      await connection.write("until the end");
      connection.close();
      return;
    }
    await connection.write(httpResponse(200, "second"));
    await connection.waitForClientClose();
  });
  const client = newClient(engine);
  try {
    const first = await client.request({ method: "GET", target: "/close" });
    assert.equal(await first.text(), "all of this until the end");
    const second = await client.request({ method: "GET", target: "/next" });
    assert.equal(await second.text(), "second");
    assert.equal(engine.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient does not reuse a connection the engine marked Connection: close", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => httpResponse(200, "bye", { Connection: "close" })),
  );
  const client = newClient(engine);
  try {
    for (let i = 0; i < 3; i++) {
      const response = await client.request({ method: "GET", target: "/x" });
      assert.equal(await response.text(), "bye");
    }
    assert.equal(engine.connections, 3);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient skips 100 and 103 interim responses, in the same write or not", async () => {
  const interim =
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n";
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      if (request.target === "/together") {
        await connection.write(concat([head(interim), httpResponse(200, "final", { X: "1" })]));
      } else {
        await connection.write("HTTP/1.1 100 Continue\r\n\r\n");
        await connection.write("HTTP/1.1 103 Early Hints\r\nLink: </b>\r\n\r\n");
        await connection.write(httpResponse(201, "made"));
      }
    }
  });
  const client = newClient(engine);
  try {
    const together = await client.request({ method: "GET", target: "/together" });
    assert.equal(together.status, 200);
    assert.equal(together.headers.get("x"), "1");
    assert.equal(together.headers.get("link"), null);
    assert.equal(await together.text(), "final");
    const apart = await client.request({ method: "POST", target: "/apart", body: "x" });
    assert.equal(apart.status, 201);
    assert.equal(await apart.text(), "made");
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient reads no body for 204, 304 and HEAD, whatever Content-Length says", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      switch (request.target) {
        case "/204":
          await connection.write("HTTP/1.1 204 No Content\r\n\r\n");
          break;
        case "/304":
          await connection.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n");
          break;
        case "/head":
          assert.equal(request.method, "HEAD");
          await connection.write("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
          break;
        default:
          await connection.write(httpResponse(200, "after"));
      }
    }
  });
  const client = newClient(engine);
  try {
    for (
      const [method, target, status] of [["GET", "/204", 204], ["GET", "/304", 304], [
        "HEAD",
        "/head",
        200,
      ]] as const
    ) {
      const response = await client.request({ method, target });
      assert.equal(response.status, status);
      // The exchange is over as soon as the head arrived.
      assert.equal(response.finished, true);
      assert.equal((await response.bytes()).length, 0);
      // The next response parses from the right place.
      const after = await client.request({ method: "GET", target: "/after" });
      assert.equal(await after.text(), "after");
    }
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient hands over the connection after 101 with the bytes that came with the head", async () => {
  let upgradeRequest: Record<string, string> | undefined;
  let engineWrote = 0;
  await using engine = await startFakeEngine(async (connection) => {
    const request = await connection.readRequest();
    if (!request) return;
    upgradeRequest = request.headers;
    // Head and the first stream bytes in ONE write.
    const first = concat([
      head("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"),
      head("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
      new Uint8Array([1, 0, 0, 0, 0, 0, 0, 5]),
      head("early"),
    ]);
    engineWrote += first.length;
    await connection.write(first);
    // Echo what the client sends until it half-closes.
    const buffer = new Uint8Array(1024);
    let n: number | null;
    while ((n = await connection.conn.read(buffer)) !== null) {
      engineWrote += n;
      await connection.write(buffer.slice(0, n));
    }
    engineWrote += 3;
    await connection.write("bye");
  });
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    const response = await client.request({
      method: "POST",
      target: "/exec/abc/start",
      upgrade: "tcp",
      body: "{}",
    });
    assert.equal(response.status, 101);
    assert.equal(response.upgraded, true);
    const { connection } = response.takeConnection();
    try {
      const first = await connection.read();
      assert.deepEqual(first, concat([new Uint8Array([1, 0, 0, 0, 0, 0, 0, 5]), head("early")]));
      await connection.write(head("ping"));
      const echoed: Uint8Array[] = [];
      let total = 0;
      while (total < 4) {
        const piece = await connection.read();
        assert.ok(piece);
        echoed.push(piece);
        total += piece.length;
      }
      assert.equal(decoder.decode(concat(echoed)), "ping");
      await connection.closeWrite();
      const rest: Uint8Array[] = [];
      let piece;
      while ((piece = await connection.read()) !== null) rest.push(piece);
      assert.equal(decoder.decode(concat(rest)), "bye");
      assert.equal(records.length, 0, "an upgraded call is recorded when its connection closes");
    } finally {
      connection.close();
    }
    // One record, whose sizes count the session: the request and "ping"
    // out, everything the engine wrote in.
    assert.equal(records.length, 1);
    assert.equal(records[0]!.status, 101);
    assert.equal(records[0]!.bytesReceived, engineWrote);
    assert.ok(records[0]!.bytesSent > 4 + "POST /exec/abc/start HTTP/1.1\r\n".length);
    assert.equal(upgradeRequest?.["connection"], "Upgrade");
    assert.equal(upgradeRequest?.["upgrade"], "tcp");
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects 101 to a request that did not ask to upgrade with UNEXPECTED_UPGRADE", async () => {
  let closedByClient = false;
  await using engine = await startFakeEngine(async (connection, index) => {
    if (index > 0) return await respondEach(() => httpResponse(200, "ok"))(connection, index);
    await connection.readRequest();
    await connection.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\n\r\nraw");
    closedByClient = await connection.waitForClientClose();
  });
  const client = newClient(engine);
  try {
    await expectProtocolError(
      client.request({ method: "GET", target: "/x", signal: AbortSignal.timeout(2000) }),
      "UNEXPECTED_UPGRADE",
    );
    await waitFor(() => closedByClient);
    const next = await client.request({ method: "GET", target: "/y" });
    assert.equal(await next.text(), "ok");
    assert.equal(engine.connections, 2);
  } finally {
    client.close();
  }
});

// ---------------------------------------------------------------------------
// Malformed responses: right code, no hang, connection never reused
// ---------------------------------------------------------------------------

interface MalformedCase {
  name: string;
  code: DockerProtocolErrorCode;
  /** What the engine writes on the first connection. */
  response: string | Uint8Array;
  /** The engine closes the connection after writing (truncation). */
  thenClose?: boolean;
  /** Where the error surfaces: the head (request) or the body (bytes). */
  phase: "head" | "body";
  options?: Partial<HttpClientOptions>;
}

const MALFORMED: MalformedCase[] = [
  {
    name: "both Content-Length and Transfer-Encoding",
    code: "CONFLICTING_FRAMING",
    response:
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    phase: "head",
  },
  {
    name: "duplicate Content-Length fields that differ",
    code: "INVALID_CONTENT_LENGTH",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    phase: "head",
  },
  {
    name: "a non-numeric Content-Length",
    code: "INVALID_CONTENT_LENGTH",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\nhello",
    phase: "head",
  },
  {
    name: "a Transfer-Encoding other than chunked",
    code: "UNSUPPORTED_TRANSFER_ENCODING",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    phase: "head",
  },
  {
    name: "a chunk size that is not hex",
    code: "INVALID_CHUNK_SIZE",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    phase: "body",
  },
  {
    name: "an empty chunk size",
    code: "INVALID_CHUNK_SIZE",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    phase: "body",
  },
  {
    name: "a chunk size that overflows",
    code: "CHUNK_SIZE_TOO_LARGE",
    response:
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n",
    phase: "body",
  },
  {
    name: "a missing CRLF after chunk data",
    code: "INVALID_CHUNK_DELIMITER",
    response:
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n",
    phase: "body",
  },
  {
    name: "a Content-Length body cut short",
    code: "PREMATURE_CLOSE",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it",
    thenClose: true,
    phase: "body",
  },
  {
    name: "a chunked body cut short inside a chunk",
    code: "PREMATURE_CLOSE",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\nhello",
    thenClose: true,
    phase: "body",
  },
  {
    name: "a chunked body cut short before the last chunk",
    code: "PREMATURE_CLOSE",
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    thenClose: true,
    phase: "body",
  },
  {
    name: "a head cut short",
    code: "PREMATURE_CLOSE",
    response: "HTTP/1.1 200 OK\r\nContent-Le",
    thenClose: true,
    phase: "head",
  },
  {
    name: "a connection closed without an answer",
    code: "PREMATURE_CLOSE",
    response: "",
    thenClose: true,
    phase: "head",
  },
  {
    name: "a header line without a colon",
    code: "INVALID_HEADER",
    response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nNoColonHere\r\n\r\nok",
    phase: "head",
  },
  {
    name: "an obs-fold continuation line",
    code: "INVALID_HEADER",
    response: "HTTP/1.1 200 OK\r\nX-Long: part one\r\n  part two\r\nContent-Length: 2\r\n\r\nok",
    phase: "head",
  },
  {
    name: "a bad status line",
    code: "INVALID_STATUS_LINE",
    response: "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
    phase: "head",
  },
  {
    name: "a head over maxHeaderSize",
    code: "HEADERS_TOO_LARGE",
    response: `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70_000)}\r\nContent-Length: 2\r\n\r\nok`,
    phase: "head",
  },
  {
    name: "a head that never ends",
    code: "HEADERS_TOO_LARGE",
    response: `HTTP/1.1 200 OK\r\n${"X-Filler: 0123456789\r\n".repeat(200)}`,
    phase: "head",
    options: { maxHeaderSize: 1024 },
  },
  {
    name: "more header fields than maxHeaderCount",
    code: "TOO_MANY_HEADERS",
    response: `HTTP/1.1 200 OK\r\n${"X-Field: 1\r\n".repeat(11)}Content-Length: 2\r\n\r\nok`,
    phase: "head",
    options: { maxHeaderCount: 10 },
  },
];

for (const malformed of MALFORMED) {
  Deno.test(`HttpClient rejects ${malformed.name} with ${malformed.code} and drops the connection`, async () => {
    let closedByClient = false;
    await using engine = await startFakeEngine(async (connection, index) => {
      if (index > 0) return await respondEach(() => httpResponse(200, "ok"))(connection, index);
      await connection.readRequest();
      await connection.write(malformed.response);
      if (malformed.thenClose) return;
      closedByClient = await connection.waitForClientClose();
    });
    const client = newClient(engine, malformed.options);
    try {
      const sending = client.request({
        method: "GET",
        target: "/bad",
        signal: AbortSignal.timeout(3000),
      });
      if (malformed.phase === "head") {
        await expectProtocolError(sending, malformed.code, "GET /bad");
      } else {
        const response = await sending;
        await expectProtocolError(response.bytes(), malformed.code, "GET /bad");
        // The failure sticks: reading again fails the same way.
        await expectProtocolError(response.bytes(), malformed.code, "GET /bad");
      }
      if (!malformed.thenClose) await waitFor(() => closedByClient);
      const next = await client.request({ method: "GET", target: "/next" });
      assert.equal(await next.text(), "ok");
      assert.equal(engine.connections, 2, "the broken connection was not reused");
      assert.equal(client.pool.busy, 0);
    } finally {
      client.close();
    }
  });
}

Deno.test("HttpClient accepts a head of exactly maxHeaderSize bytes and rejects one byte more", async () => {
  const exact = (size: number) => {
    const base = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: \r\n\r\n";
    const text = base.replace("X-Pad: ", `X-Pad: ${"p".repeat(size - base.length)}`);
    assert.equal(text.length, size);
    return `${text}ok`;
  };
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      await connection.write(exact(Number(request.target.slice(1))));
    }
  });
  const client = newClient(engine, { maxHeaderSize: 512 });
  try {
    const ok = await client.request({ method: "GET", target: "/512" });
    assert.equal(await ok.text(), "ok");
    await expectProtocolError(
      client.request({ method: "GET", target: "/513" }),
      "HEADERS_TOO_LARGE",
    );
  } finally {
    client.close();
  }
});

Deno.test("HttpResponse.text and json decode UTF-8, short ASCII bodies included", async () => {
  const bodies: Record<string, Uint8Array> = {
    "/ok": head("OK"),
    "/accent": head("café"),
    "/bom": concat([new Uint8Array([0xef, 0xbb, 0xbf]), head("OK")]),
    "/64": head("a".repeat(64)),
    "/65": head("b".repeat(65)),
    "/json": head('{"StatusCode":0}'),
    "/empty": new Uint8Array(0),
  };
  await using engine = await startFakeEngine(
    respondEach((request) => httpResponse(200, bodies[request.target]!)),
  );
  const client = newClient(engine);
  try {
    const text = async (target: string) =>
      await (await client.request({ method: "GET", target })).text();
    assert.equal(await text("/ok"), "OK");
    assert.equal(await text("/accent"), "café");
    assert.equal(await text("/bom"), "OK", "a BOM is dropped, as TextDecoder does");
    assert.equal(await text("/64"), "a".repeat(64));
    assert.equal(await text("/65"), "b".repeat(65));
    assert.equal(await text("/empty"), "");
    const json = await (await client.request({ method: "GET", target: "/json" })).json();
    assert.deepEqual(json, { StatusCode: 0 });
  } finally {
    client.close();
  }
});
