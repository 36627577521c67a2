import assert from "node:assert/strict";
import { DockerProtocolError, type DockerProtocolErrorCode } from "../../src/errors.ts";
import { HttpClient, type HttpClientOptions } from "../../src/http/client.ts";
import {
  bodyFraming,
  findHeadEnd,
  FRAMING_FIELDS,
  parseHead,
  type ResponseHead,
} from "../../src/http/response_head.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import {
  concat,
  type FakeEngine,
  httpResponse,
  respondEach,
  startFakeEngine,
  tappedConnector,
  waitFor,
} from "../_fake_engine.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LIMITS = { maxHeaderSize: 65536, maxHeaderCount: 256 };

function newClient(engine: FakeEngine, options: Partial<HttpClientOptions> = {}): HttpClient {
  return new HttpClient({
    connect: createConnector(parseHost(engine.host), 1000),
    host: engine.host,
    hostHeader: "docker",
    ...options,
  });
}

function head(text: string): Uint8Array {
  return encoder.encode(text);
}

function parse(text: string): ResponseHead {
  const parsed = parseHead(head(text), LIMITS);
  assert.ok(parsed, "a whole head parses");
  return parsed;
}

function assertProtocolError(error: unknown, code: DockerProtocolErrorCode): void {
  assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
  assert.equal(error.code, code, error.message);
}

async function expectProtocolError(
  promise: Promise<unknown>,
  code: DockerProtocolErrorCode,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assertProtocolError(error, code);
    return;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

// ---------------------------------------------------------------------------
// Pure functions
// ---------------------------------------------------------------------------

Deno.test("findHeadEnd returns the index just past the empty line, or -1", () => {
  const bytes = head("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody");
  assert.equal(findHeadEnd(bytes, 0), bytes.length - 4);
  assert.equal(findHeadEnd(head("HTTP/1.1 200 OK\r\nA: b\r\n\r"), 0), -1);
  assert.equal(findHeadEnd(head("HTTP/1.1 200 OK\r\n\r\n"), 0), 19);
  assert.equal(findHeadEnd(head("\r\n\r\n"), 0), 4);
  assert.equal(findHeadEnd(head("a\n\n"), 0), -1, "bare LF is not a head end");
  assert.equal(findHeadEnd(new Uint8Array(0), 0), -1);
  // Resuming the scan from where the last read ended still finds a
  // CRLF CRLF that straddles the boundary.
  // `scanned` is how much an earlier search covered without a match.
  for (let scanned = 0; scanned <= 18; scanned++) {
    assert.equal(findHeadEnd(head("HTTP/1.1 200 OK\r\n\r\nx"), Math.max(0, scanned - 3)), 19);
  }
});

Deno.test("parseHead reads status, reason and fields, joining repeated fields", () => {
  const parsed = parse(
    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A:  one \t\r\n" +
      "x-a: two\r\nEmpty:\r\n\r\n",
  );
  assert.equal(parsed.status, 404);
  assert.equal(parsed.statusText, "Not Found");
  assert.equal(parsed.headers.get("content-type"), "application/json");
  assert.equal(parsed.headers.get("X-A"), "one, two");
  assert.equal(parsed.headers.get("empty"), "");
  assert.equal(parsed.headers.has("EMPTY"), true);
  assert.equal(parsed.headers.get("missing"), null);
  assert.deepEqual(parsed.headers.toObject(), {
    "content-type": "application/json",
    "x-a": "one, two",
    "empty": "",
  });
  assert.equal(parse("HTTP/1.0 200\r\n\r\n").statusText, "");
  assert.equal(parse("HTTP/1.1 200 \r\n\r\n").statusText, "");
  assert.equal(
    parse("HTTP/1.1 500 Internal Server Error\r\n\r\n").statusText,
    "Internal Server Error",
  );
  // Field values are read as ISO-8859-1 (obs-text), never as UTF-8.
  const latin1 = concat([
    head("HTTP/1.1 200 OK\r\nX: caf"),
    new Uint8Array([0xe9]),
    head("\r\n\r\n"),
  ]);
  assert.equal(parseHead(latin1, LIMITS)!.headers.get("x"), "café");
  // Also after a tab (the parser's fast path stops there), and in the reason.
  const afterTab = concat([
    head("HTTP/1.1 200 D"),
    new Uint8Array([0xe9]),
    head("ja\r\nX: a\tcaf"),
    new Uint8Array([0xe9]),
    head("\r\nY: plain\r\n\r\n"),
  ]);
  const parsed2 = parseHead(afterTab, LIMITS)!;
  assert.equal(parsed2.statusText, "Déja");
  assert.equal(parsed2.headers.get("x"), "a\tcafé");
  assert.equal(parsed2.headers.get("y"), "plain");
});

Deno.test("parseHead notes which framing fields are present, in any case", () => {
  const bits = (fields: string) => parse(`HTTP/1.1 200 OK\r\n${fields}\r\n`).headers.framingFields;
  assert.equal(bits("A: b\r\n"), 0);
  assert.equal(bits("CONTENT-LENGTH: 2\r\n"), FRAMING_FIELDS["content-length"]);
  assert.equal(
    bits("Transfer-Encoding: chunked\r\nconnection: close\r\n"),
    FRAMING_FIELDS["transfer-encoding"] | FRAMING_FIELDS.connection,
  );
  // Same lengths, other names.
  assert.equal(bits("Content-Lengtx: 2\r\nTransfer-Encodinh: x\r\nConnectiom: y\r\n"), 0);
  // One plain Content-Length is read while parsing; anything else is left
  // to bodyFraming (-1).
  const plain = (fields: string) =>
    parse(`HTTP/1.1 200 OK\r\n${fields}\r\n`).headers.plainContentLength;
  assert.equal(plain("Content-Length:  42 \t\r\n"), 42);
  assert.equal(plain("content-length: 0\r\n"), 0);
  assert.equal(plain("A: b\r\n"), -1);
  assert.equal(plain("Content-Length: 4a\r\n"), -1);
  assert.equal(plain("Content-Length: \r\n"), -1);
  assert.equal(plain("Content-Length: 1234567890123456\r\n"), -1, "16 digits");
  assert.equal(plain("Content-Length: 2\r\nContent-Length: 2\r\n"), -1);
  assert.deepEqual(
    bodyFraming(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"), "GET"),
    { kind: "length", length: 2 },
  );
  assert.throws(
    () =>
      bodyFraming(
        parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
        "GET",
      ),
    (error) => {
      assertProtocolError(error, "INVALID_CONTENT_LENGTH");
      return true;
    },
  );
});

Deno.test("parseHead finds where the head ends, and says undefined until it has", () => {
  const text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: a\tb\r\n\r\n";
  const bytes = head(`${text}OK`);
  const parsed = parseHead(bytes, LIMITS)!;
  assert.equal(parsed.size, text.length, "the body is not part of the head");
  assert.equal(parsed.headers.get("x"), "a\tb");
  assert.deepEqual(bodyFraming(parsed, "GET"), { kind: "length", length: 2 });
  // Every prefix (as a view of its own, and as a length into the whole) is
  // not yet a head, and is not an error either.
  for (let cut = 0; cut < text.length; cut++) {
    assert.equal(parseHead(bytes.subarray(0, cut), LIMITS), undefined, `view of ${cut}`);
    assert.equal(parseHead(bytes, LIMITS, cut), undefined, `length ${cut}`);
  }
  // A bad byte is an error as soon as it is in, whatever follows.
  const bad = head("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n");
  for (let cut = 21; cut <= bad.length; cut++) {
    assert.throws(() => parseHead(bad.subarray(0, cut), LIMITS), (error) => {
      assertProtocolError(error, "INVALID_HEADER");
      return true;
    }, `cut at ${cut}`);
  }
});

Deno.test("parseHead rejects bad status lines with INVALID_STATUS_LINE", () => {
  for (
    const line of [
      "HTTP/2 200 OK",
      "HTTP/1.1 20 OK",
      "HTTP/1.1 2000 OK",
      "HTTP/1.1 099 Low",
      "HTTP/1.1  200 OK",
      "http/1.1 200 OK",
      "ICY 200 OK",
      "HTTP/1.1 abc OK",
      "HTTP/1.1 200 O\0K",
      "HTTP/1.1 200 O\rK",
      "HTTP/1.1 200 O\tK\nX",
      "",
    ]
  ) {
    assert.throws(() => parse(`${line}\r\nA: b\r\n\r\n`), (error) => {
      assertProtocolError(error, "INVALID_STATUS_LINE");
      return true;
    }, line);
  }
});

Deno.test("parseHead rejects malformed field lines with INVALID_HEADER", () => {
  for (
    const line of [
      "NoColon",
      " folded: value",
      "\tfolded",
      "Name : value",
      ": value",
      "Na me: value",
      "Bad\nName: value",
      "X: a\nb",
      "X: a\0b",
      "X: a\tb\0",
      "X: a\tb\rc",
      "X: a\rb",
      "X:\0",
    ]
  ) {
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nA: b\r\n${line}\r\n\r\n`), (error) => {
      assertProtocolError(error, "INVALID_HEADER");
      return true;
    }, JSON.stringify(line));
  }
});

Deno.test("parseHead rejects more than maxHeaderCount fields with TOO_MANY_HEADERS", () => {
  const limits = { maxHeaderSize: 65536, maxHeaderCount: 3 };
  parseHead(head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits);
  assert.throws(
    () => parseHead(head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), limits),
    (error) => {
      assertProtocolError(error, "TOO_MANY_HEADERS");
      return true;
    },
  );
});

Deno.test("bodyFraming picks length, chunked, close or none by status, method and fields", () => {
  const framing = (text: string, method = "GET") => bodyFraming(parse(text), method);
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"), {
    kind: "length",
    length: 12,
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), {
    kind: "length",
    length: 0,
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n"), {
    kind: "length",
    length: 7,
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n"), {
    kind: "length",
    length: 7,
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"), {
    kind: "chunked",
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\n\r\n"), { kind: "close" });
  assert.deepEqual(framing("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"), {
    kind: "none",
  });
  assert.deepEqual(framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"), {
    kind: "none",
  });
  assert.deepEqual(framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD"), {
    kind: "none",
  });
  assert.deepEqual(framing("HTTP/1.1 101 Switching Protocols\r\n\r\n"), { kind: "none" });
  assert.deepEqual(framing("HTTP/1.1 100 Continue\r\n\r\n"), { kind: "none" });
});

Deno.test("bodyFraming rejects ambiguous or unsupported framing", () => {
  const cases: [string, DockerProtocolErrorCode][] = [
    ["Content-Length: 5\r\nTransfer-Encoding: chunked", "CONFLICTING_FRAMING"],
    ["Transfer-Encoding: chunked\r\nContent-Length: 5", "CONFLICTING_FRAMING"],
    ["Transfer-Encoding: gzip", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["Transfer-Encoding: gzip, chunked", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["Transfer-Encoding: chunked, chunked", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["Content-Length: 5\r\nContent-Length: 6", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: 5, 6", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: abc", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: -1", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: +5", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: 0x10", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: 1.5", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: ", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: 12345678901234567", "INVALID_CONTENT_LENGTH"],
    ["Content-Length: 9999999999999999", "INVALID_CONTENT_LENGTH"],
  ];
  for (const [fields, code] of cases) {
    assert.throws(
      () => bodyFraming(parse(`HTTP/1.1 200 OK\r\n${fields}\r\n\r\n`), "GET"),
      (error) => {
        assertProtocolError(error, code);
        return true;
      },
      fields,
    );
  }
});

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
  await using engine = await startFakeEngine(async (connection) => {
    const request = await connection.readRequest();
    if (!request) return;
    upgradeRequest = request.headers;
    // Head and the first stream bytes in ONE write.
    await connection.write(
      concat([
        head("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"),
        head("Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
        new Uint8Array([1, 0, 0, 0, 0, 0, 0, 5]),
        head("early"),
      ]),
    );
    // Echo what the client sends until it half-closes.
    const buffer = new Uint8Array(1024);
    let n: number | null;
    while ((n = await connection.conn.read(buffer)) !== null) {
      await connection.write(buffer.slice(0, n));
    }
    await connection.write("bye");
  });
  const client = newClient(engine);
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
    } finally {
      connection.close();
    }
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
        await expectProtocolError(sending, malformed.code);
      } else {
        const response = await sending;
        await expectProtocolError(response.bytes(), malformed.code);
        // The failure sticks: reading again fails the same way.
        await expectProtocolError(response.bytes(), malformed.code);
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
