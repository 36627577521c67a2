/**
 * What the serveHttp2 tests (`server_*_test.ts`) share: an assertion that
 * the connection broke with a given GOAWAY, and a handler that records its
 * requests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import type {
  Http2Handler,
  Http2Request,
  Http2Response,
  Http2Server,
} from "../../src/http2/server.ts";
import { ACK, type FakeClient, frame, PING, stop, text, utf8 } from "./_client.ts";

/**
 * Asserts that the server sent GOAWAY with `code`, closed, and `done` rejected.
 * A PING goes after what the test sent: should the server answer it instead,
 * the connection is closed and the assertion fails rather than waiting forever.
 */
export async function assertBroken(
  client: FakeClient,
  server: Http2Server,
  code: number,
): Promise<void> {
  const probe = utf8.encode("probe!!!");
  client.send(frame(PING, 0, 0, probe));
  const outcome = await client.until(() => {
    if (client.goaway() !== undefined) return "goaway";
    const answered = client.frames.some((f) =>
      f.type === PING && f.flags === ACK && text(f.payload) === text(probe)
    );
    return answered ? "ping" : undefined;
  }, "a GOAWAY");
  if (outcome === "ping") {
    await stop(client, server);
    assert.fail(`the connection went on; expected GOAWAY with error code ${code}`);
  }
  await assert.rejects(server.done, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
    assert.equal(error.code, "INVALID_HTTP2");
    return true;
  });
  assert.equal(client.goaway()?.code, code);
  assert.equal(client.closed, true);
}

/** A handler that records its requests and answers with `respond`. */
export function recorder(
  respond: (request: Http2Request) => Http2Response | Promise<Http2Response> = () => ({}),
): { requests: Http2Request[]; handler: Http2Handler } {
  const requests: Http2Request[] = [];
  return {
    requests,
    handler: (request) => {
      requests.push(request);
      return respond(request);
    },
  };
}
