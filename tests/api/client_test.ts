/**
 * The API layer's own handling of what an engine answers, on a fake engine:
 * a body that should be JSON and is not says which call got it; every call
 * is recorded, sent or not.
 */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Containers } from "../../src/api/containers.ts";
import {
  DockerApiError,
  DockerConflictError,
  DockerNotFoundError,
  DockerProtocolError,
} from "../../src/errors.ts";
import { Services } from "../../src/api/services.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import {
  chunked,
  concat,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
  waitFor,
} from "../_fake_engine.ts";

Deno.test("a JSON call whose body is not JSON is a DockerProtocolError naming the call", async (t) => {
  const bodies = new Map<string, Uint8Array | string>([
    // Podman 4.3 answers `top` of a stopped container like this: 200, an empty chunked body.
    [
      "/v1.41/containers/stopped/top",
      new TextEncoder().encode(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      ),
    ],
    ["/v1.41/containers/garbled/json", httpResponse(200, "<html>proxy error</html>")],
    [
      "/v1.41/containers/split/json",
      concat([
        new TextEncoder().encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        chunked(new TextEncoder().encode('{"Id": "x", '), [5]),
      ]),
    ],
  ]);
  await using engine = await startFakeEngine(
    respondEach((request) => bodies.get(request.target.split("?")[0]!) ?? httpResponse(404, "{}")),
  );
  const http = newClient(engine);
  try {
    const containers = new Containers(new ApiClient(http, { apiVersion: "1.41" }));
    for (
      const [name, call, message] of [
        [
          "an empty body",
          () => containers.top("stopped"),
          /^Cannot .*"stopped".*: the engine sent invalid JSON: "" \(status 200\)$/,
        ],
        [
          "a page of HTML",
          () => containers.inspect("garbled"),
          /^Cannot .*"garbled".*: the engine sent invalid JSON: "<html>proxy error<\/html>" \(status 200\)$/,
        ],
        [
          "JSON cut short, read in pieces",
          () => containers.inspect("split"),
          /^Cannot .*"split".*invalid JSON.*\(status 200\)$/,
        ],
      ] as const
    ) {
      await t.step(name, async () => {
        const error = await call().then(() => undefined, (error: unknown) => error);
        assert.ok(error instanceof DockerProtocolError, String(error));
        assert.equal(error.code, "INVALID_JSON");
        assert.match(error.message, message);
      });
    }
  } finally {
    http.close();
  }
});

Deno.test("a JSON answer over 256 MiB is a DockerProtocolError BODY_TOO_LARGE naming the call; the socket closes", async () => {
  let closed = false;
  await using engine = await startFakeEngine(async (connection) => {
    if (!await connection.readRequest()) return;
    await connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    // An endless body: 1 MiB chunks until the client hangs up.
    const chunk = concat([
      new TextEncoder().encode(`${(1 << 20).toString(16)}\r\n`),
      new Uint8Array(1 << 20).fill(0x20),
      new TextEncoder().encode("\r\n"),
    ]);
    try {
      while (true) await connection.write(chunk);
    } catch {
      closed = true;
    }
  });
  const http = newClient(engine);
  try {
    const containers = new Containers(new ApiClient(http, { apiVersion: "1.41" }));
    const error = await containers.list().catch((e) => e);
    assert.ok(error instanceof DockerProtocolError, String(error));
    assert.equal(error.code, "BODY_TOO_LARGE");
    assert.match(error.message, /^Cannot list containers: response body exceeds 268435456 bytes$/);
    await waitFor(() => closed, 5000);
  } finally {
    http.close();
  }
});

Deno.test("an error answer over 1 MiB still gives the typed error from its status", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => httpResponse(404, "x".repeat(2 << 20), { "Content-Type": "text/plain" })),
  );
  const http = newClient(engine);
  try {
    const containers = new Containers(new ApiClient(http, { apiVersion: "1.41" }));
    const error = await containers.inspect("web").catch((e) => e);
    assert.ok(error instanceof DockerNotFoundError, String(error));
    assert.equal(error.status, 404);
  } finally {
    http.close();
  }
});

Deno.test("a call cut by its signal, or by a failed version negotiation, before anything is sent is still recorded", async () => {
  let versionStatus = 500;
  await using engine = await startFakeEngine(
    respondEach((request) =>
      request.target === "/version"
        ? httpResponse(
          versionStatus,
          versionStatus === 200 ? '{"ApiVersion":"1.41"}' : '{"message":"down"}',
        )
        : httpResponse(200, "[]")
    ),
  );
  const records: ExchangeRecord[] = [];
  const http = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    const containers = new Containers(new ApiClient(http));
    const reason = new Error("not now");
    const targets = () =>
      records.map((record) =>
        `${record.target} ${
          record.error === reason
            ? "aborted"
            : record.error instanceof DockerApiError
            ? record.error.status
            : record.status
        }`
      );

    // Before the version is known: the negotiation fails, and so does the call waiting on it.
    await assert.rejects(containers.list({ all: true }), DockerApiError);
    assert.deepEqual(targets(), ["/version 500", "/containers/json?all=1 500"]);
    // Aborted while the version is asked for: recorded without a version prefix.
    records.length = 0;
    versionStatus = 200;
    await assert.rejects(
      containers.list({ signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    // Once it is known: an aborted call is recorded with its full target, nothing sent.
    await containers.list();
    await assert.rejects(
      containers.list({ all: true, signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.deepEqual(targets(), [
      "/containers/json aborted",
      "/version 200",
      "/v1.41/containers/json 200",
      "/v1.41/containers/json?all=1 aborted",
    ]);
    for (const record of records.filter((record) => record.error === reason)) {
      assert.equal(record.bytesSent, 0);
      assert.equal(record.status, undefined);
      assert.equal(record.requestHeaders.Host, "docker");
    }
  } finally {
    http.close();
  }
});

Deno.test("a swarm update with a stale version is a DockerConflictError, whatever status the engine gives it", async () => {
  const stale = '{"message":"rpc error: code = Unknown desc = update out of sequence"}';
  let status = 500;
  await using engine = await startFakeEngine(respondEach(() => httpResponse(status, stale)));
  const http = newClient(engine);
  try {
    const services = new Services(new ApiClient(http, { apiVersion: "1.41" }));
    for (status of [500, 400]) {
      const error = await services.update("web", {}, { version: 7 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof DockerConflictError, String(error));
      assert.equal(error.status, status);
      assert.match(error.message, /Cannot update service "web": .*update out of sequence/);
    }
    // A version of the wrong type says so, before any I/O.
    const wrongType = await services.update("web", {}, { version: "7" as unknown as number })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(wrongType instanceof TypeError);
    assert.match(wrongType.message, /options.version must be a number.*\(got "7"\)/);
  } finally {
    http.close();
  }
});

Deno.test("a container name as the engine gives it (a leading /) names the container in every path", async () => {
  const targets: string[] = [];
  await using engine = await startFakeEngine(respondEach((request) => {
    targets.push(request.target);
    return request.method === "GET"
      ? httpResponse(200, '{"Id":"abc","Config":{"Tty":false}}')
      : httpResponse(204, "");
  }));
  const http = newClient(engine);
  try {
    const containers = new Containers(new ApiClient(http, { apiVersion: "1.41" }));
    await containers.inspect("/web");
    await containers.start("/web");
    await containers.remove("/web", { force: true });
    assert.deepEqual(targets, [
      "/v1.41/containers/web/json",
      "/v1.41/containers/web/start",
      "/v1.41/containers/web?force=1",
    ]);
    // A slash alone names nothing; one inside a name stays encoded.
    await assert.rejects(containers.inspect("/"), TypeError);
    await containers.inspect("//web");
    assert.equal(targets.at(-1), "/v1.41/containers/%2Fweb/json");
    // A signal number below 1 is refused before any I/O (the engine took -1 as 2^64 - 1).
    const sent = targets.length;
    for (const killSignal of [-1, 0, 1.5]) {
      await assert.rejects(containers.kill("web", { killSignal }), RangeError);
    }
    assert.equal(targets.length, sent);
  } finally {
    http.close();
  }
});
