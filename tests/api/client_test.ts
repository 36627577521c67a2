/**
 * The API layer's own handling of what an engine answers, on a fake engine:
 * a body that should be JSON and is not says which call got it.
 */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Containers } from "../../src/api/containers.ts";
import { DockerNotFoundError, DockerProtocolError } from "../../src/errors.ts";
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
