import assert from "node:assert/strict";
import type { DockerProtocolErrorCode } from "../../src/errors.ts";
import {
  bodyFraming,
  findHeadEnd,
  FRAMING_FIELDS,
  parseHead,
  type ResponseHead,
} from "../../src/http/response_head.ts";
import { concat } from "../_fake_engine.ts";
import { assertProtocolError } from "../_helpers.ts";

const encoder = new TextEncoder();
const LIMITS = { maxHeaderSize: 65536, maxHeaderCount: 256 };

function head(text: string): Uint8Array {
  return encoder.encode(text);
}

function parse(text: string): ResponseHead {
  const parsed = parseHead(head(text), LIMITS);
  assert.ok(parsed, "a whole head parses");
  return parsed;
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

Deno.test("HeaderMap decodes values from the head's bytes when read, as ISO-8859-1", () => {
  const bytes = concat([
    head("HTTP/1.1 200 OK\r\nX: "),
    new Uint8Array([0x80, 0x9f, 0xa0, 0xff]),
    head("\r\nContent-Type: text/plain\r\n\r\nbody"),
  ]);
  const parsed = parseHead(bytes, LIMITS)!;
  // One character per byte: 0x80-0x9F are C1 controls, not windows-1252.
  assert.equal(parsed.headers.get("x"), "\u0080\u009f\u00a0\u00ff");
  assert.deepEqual(parsed.headers.toObject(), {
    "x": "\u0080\u009f\u00a0\u00ff",
    "content-type": "text/plain",
  });
});

Deno.test("HeaderMap says so when its read buffer was transferred, and ownCopy keeps working", () => {
  const bytes = head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nbody");
  const parsed = parseHead(bytes, LIMITS)!;
  const copy = parsed.ownCopy();
  structuredClone(bytes.buffer, { transfer: [bytes.buffer as ArrayBuffer] });
  assert.throws(() => parsed.headers.get("content-type"), /read buffer was transferred/);
  assert.equal(copy.headers.get("content-type"), "text/plain");
  assert.equal(copy.statusText, "Not Found");
  assert.equal(copy.status, 404);
  assert.equal(copy.ownCopy(), copy);
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

Deno.test("bodyFraming rejects Transfer-Encoding in an HTTP/1.0 response (RFC 9112 §6.1)", () => {
  const head = parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.equal(head.minorVersion, 0);
  assert.equal(head.ownCopy().minorVersion, 0);
  assert.throws(() => bodyFraming(head, "GET"), (error) => {
    assertProtocolError(error, "UNSUPPORTED_TRANSFER_ENCODING");
    assert.match((error as Error).message, /HTTP\/1\.0/);
    return true;
  });
  assert.equal(parse("HTTP/1.1 200 OK\r\n\r\n").minorVersion, 1);
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
