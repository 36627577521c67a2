import assert from "node:assert/strict";
import { encodeHead, validateRequest } from "../../src/http/request.ts";
import { redactHeaders } from "../../src/observer.ts";
import {
  concat,
  type FakeEngine,
  type FakeRequest,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
  waitFor,
} from "../_fake_engine.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An engine that records every request and answers 200 "ok". */
async function recordingEngine(): Promise<{ engine: FakeEngine; requests: FakeRequest[] }> {
  const requests: FakeRequest[] = [];
  const engine = await startFakeEngine(respondEach((request) => {
    requests.push(request);
    return httpResponse(200, "ok");
  }));
  return { engine, requests };
}

Deno.test("encodeHead writes the request line, fields in order and the framing field", () => {
  const text = (bytes: Uint8Array) => decoder.decode(bytes);
  assert.equal(
    text(encodeHead("GET", "/v1.47/info", { Host: "docker", "X-A": "1" }, undefined)),
    "GET /v1.47/info HTTP/1.1\r\nHost: docker\r\nX-A: 1\r\n\r\n",
  );
  assert.equal(
    text(encodeHead("POST", "/x", { Host: "docker" }, 12)),
    "POST /x HTTP/1.1\r\nHost: docker\r\nContent-Length: 12\r\n\r\n",
  );
  assert.equal(
    text(encodeHead("POST", "/x", {}, "chunked")),
    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
  );
});

Deno.test("encodeHead sends a field with a list of values as one line per value", () => {
  const head = decoder.decode(
    encodeHead("POST", "/session", { "X-M": ["/a/B", "/c/D"], "X-One": "1" }, undefined),
  );
  assert.equal(head, "POST /session HTTP/1.1\r\nX-M: /a/B\r\nX-M: /c/D\r\nX-One: 1\r\n\r\n");
  assert.throws(() => validateRequest("GET", "/", { "X-M": [] }), TypeError);
  assert.throws(
    () => validateRequest("GET", "/", { "X-M": ["ok", "a\r\nX-Injected: 1"] }),
    TypeError,
  );
  // The observer sees such a field as its values joined, secrets still redacted.
  assert.deepEqual(
    redactHeaders({ "X-M": ["/a", "/b"], "X-Registry-Auth": ["s1", "s2"] }),
    { "X-M": "/a, /b", "X-Registry-Auth": "<redacted>" },
  );
});

Deno.test("validateRequest accepts tokens, encoded targets and visible field values", () => {
  validateRequest("GET", "/containers/a%2F..%2Fb/json?all=1&filters=%7B%7D", {
    Host: "docker",
    "X-Registry-Auth": "eyJ1c2VybmFtZSI6ImEifQ==",
    "X-Tab": "a\tb",
    "X-Empty": "",
  });
  validateRequest("M-SEARCH", "/", {});
});

Deno.test("validateRequest throws TypeError on anything that could split the request", () => {
  const bad: [string, string, Record<string, string>][] = [
    ["GET\r\nX: y", "/", {}],
    ["GET /x", "/", {}],
    ["", "/", {}],
    ["G(ET", "/", {}],
    ["GET", "/a b", {}],
    ["GET", "/a\r\nX: y", {}],
    ["GET", "/a\tb", {}],
    ["GET", "a/b", {}],
    ["GET", "", {}],
    ["GET", "http://evil/", {}],
    ["GET", "/é", {}],
    ["GET", "/", { "X-A": "a\r\nX-Injected: 1" }],
    ["GET", "/", { "X-A": "a\nb" }],
    ["GET", "/", { "X-A": "a\rb" }],
    ["GET", "/", { "X-A": "a\0b" }],
    ["GET", "/", { "X-A": "snow\u2603" }],
    ["GET", "/", { "X A": "1" }],
    ["GET", "/", { "X:A": "1" }],
    ["GET", "/", { "": "1" }],
    ["GET", "/", { "X-A\r\n": "1" }],
    ["POST", "/", { "Content-Length": "5" }],
    ["POST", "/", { "transfer-encoding": "chunked" }],
    ["GET", "/", { Host: "a", host: "b" }],
  ];
  for (const [method, target, headers] of bad) {
    assert.throws(
      () => validateRequest(method, target, headers),
      TypeError,
      JSON.stringify([method, target, headers]),
    );
  }
});

Deno.test("HttpClient throws TypeError on header injection before opening any connection", async () => {
  const { engine, requests } = await recordingEngine();
  await using _ = engine;
  const client = newClient(engine);
  try {
    const attempts = [
      { method: "GET", target: "/x", headers: { "X-A": "1\r\nX-Injected: yes" } },
      { method: "GET\r\n", target: "/x" },
      { method: "GET", target: "/x y" },
      { method: "GET", target: "/x\r\nHost: evil" },
      { method: "GET", target: "/x", upgrade: "tcp\r\nX: y" },
      { method: "POST", target: "/x", headers: { "content-length": "0" }, body: "abc" },
    ];
    for (const attempt of attempts) {
      await assert.rejects(client.request(attempt), TypeError, JSON.stringify(attempt));
    }
    assert.equal(engine.connections, 0);
    assert.equal(requests.length, 0);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends path segments and queries exactly as encoded", async () => {
  const { engine, requests } = await recordingEngine();
  await using _ = engine;
  const client = newClient(engine);
  try {
    const targets = [
      `/containers/${encodeURIComponent("a/../b?x#y %")}/json`,
      `/images/library/busybox:latest/json`,
      `/containers/json?${new URLSearchParams({ all: "1", filters: '{"label":["a=b c"]}' })}`,
      "/%2E%2E/%2e",
    ];
    for (const target of targets) {
      const response = await client.request({ method: "GET", target });
      await response.discard();
    }
    assert.deepEqual(requests.map((r) => r.target), [
      "/containers/a%2F..%2Fb%3Fx%23y%20%25/json",
      "/images/library/busybox:latest/json",
      "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db+c%22%5D%7D",
      "/%2E%2E/%2e",
    ]);
    assert.equal(requests[0]!.headers["host"], "docker");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient frames bodies: POST/PUT without a body send Content-Length: 0, GET sends none", async () => {
  const { engine, requests } = await recordingEngine();
  await using _ = engine;
  const client = newClient(engine);
  try {
    for (const method of ["POST", "PUT", "GET", "DELETE"]) {
      await (await client.request({ method, target: `/${method}` })).discard();
    }
    const [post, put, get, del] = requests;
    assert.equal(post!.headers["content-length"], "0");
    assert.equal(put!.headers["content-length"], "0");
    assert.equal(get!.headers["content-length"], undefined);
    assert.equal(del!.headers["content-length"], undefined);
    for (const request of requests) {
      assert.equal(request.headers["transfer-encoding"], undefined);
      assert.equal(request.body.length, 0);
    }
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends string and byte bodies with an exact Content-Length", async () => {
  const { engine, requests } = await recordingEngine();
  await using _ = engine;
  const client = newClient(engine);
  const big = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
  try {
    await (await client.request({
      method: "POST",
      target: "/json",
      headers: { "Content-Type": "application/json" },
      body: '{"name":"café ☃"}',
    })).discard();
    await (await client.request({ method: "POST", target: "/big", body: big })).discard();
    await (await client.request({ method: "POST", target: "/empty", body: "" })).discard();
    const [json, bytes, empty] = requests;
    assert.equal(
      json!.headers["content-length"],
      String(encoder.encode('{"name":"café ☃"}').length),
    );
    assert.equal(json!.headers["content-type"], "application/json");
    assert.equal(decoder.decode(json!.body), '{"name":"café ☃"}');
    assert.equal(bytes!.headers["content-length"], "200000");
    assert.deepEqual(bytes!.body, big);
    assert.equal(empty!.headers["content-length"], "0");
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends a ReadableStream body chunked and exact", async () => {
  const { engine, requests } = await recordingEngine();
  await using _ = engine;
  const client = newClient(engine);
  const pieces = [
    encoder.encode("first"),
    new Uint8Array(0),
    new Uint8Array(100_000).map((_, i) => i & 0xff),
    encoder.encode("\r\n0\r\n\r\n"),
    new Uint8Array([0]),
  ];
  try {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = pieces[pulls++];
        if (piece) controller.enqueue(piece);
        else controller.close();
      },
    });
    const response = await client.request({ method: "POST", target: "/build", body });
    assert.equal(await response.text(), "ok");
    const [request] = requests;
    assert.equal(request!.headers["transfer-encoding"], "chunked");
    assert.equal(request!.headers["content-length"], undefined);
    assert.deepEqual(request!.body, concat(pieces));
    // The connection stays usable after a chunked request.
    await (await client.request({ method: "GET", target: "/after" })).discard();
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends each ReadableStream piece as one chunk on the wire", async () => {
  let raw = "";
  await using engine = await startFakeEngine(async (connection) => {
    const buffer = new Uint8Array(65536);
    while (!raw.endsWith("0\r\n\r\n")) {
      const n = await connection.conn.read(buffer);
      if (n === null) return;
      raw += decoder.decode(buffer.subarray(0, n));
    }
    await connection.write(httpResponse(200, "ok"));
  });
  const client = newClient(engine);
  try {
    const body = ReadableStream.from([
      encoder.encode("abc"),
      encoder.encode("0123456789abcdefXYZ"),
    ]);
    const response = await client.request({ method: "POST", target: "/s", body });
    await response.discard();
    const bodyStart = raw.indexOf("\r\n\r\n") + 4;
    assert.equal(raw.slice(bodyStart), "3\r\nabc\r\n13\r\n0123456789abcdefXYZ\r\n0\r\n\r\n");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rethrows a body stream's own error unchanged and drops the connection", async () => {
  let closedByClient = false;
  await using engine = await startFakeEngine(async (connection) => {
    closedByClient = await connection.waitForClientClose();
  });
  const client = newClient(engine);
  const failure = new Error("source broke");
  try {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("partial"));
      },
      pull(controller) {
        controller.error(failure);
      },
    });
    const error = await client.request({
      method: "POST",
      target: "/s",
      body,
      signal: AbortSignal.timeout(2000),
    }).then(() => undefined, (error: unknown) => error);
    assert.equal(error, failure);
    assert.equal(client.pool.busy, 0);
    await waitFor(() => closedByClient);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects a body stream that yields something other than bytes with TypeError", async () => {
  let closedByClient = false;
  await using engine = await startFakeEngine(async (connection) => {
    closedByClient = await connection.waitForClientClose();
  });
  const client = newClient(engine);
  try {
    const body = ReadableStream.from(["not bytes"]) as unknown as ReadableStream<Uint8Array>;
    await assert.rejects(
      client.request({ method: "POST", target: "/s", body, signal: AbortSignal.timeout(2000) }),
      TypeError,
    );
    await waitFor(() => closedByClient);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});
