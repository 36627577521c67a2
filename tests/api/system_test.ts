/** `System.auth` answers a fake engine gives that Docker 20.10 does not. */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { System } from "../../src/api/system.ts";
import { DockerApiError } from "../../src/errors.ts";
import { rejection } from "../_helpers.ts";
import {
  type FakeRequest,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
} from "../_fake_engine.ts";

Deno.test("System.auth takes a 204 without a body as a success, and sends and scrubs tokens", async () => {
  const requests: FakeRequest[] = [];
  let answer = httpResponse(204);
  await using engine = await startFakeEngine(respondEach((request) => {
    requests.push(request);
    return answer;
  }));
  const http = newClient(engine);
  try {
    const system = new System(new ApiClient(http, { apiVersion: "1.41" }));
    assert.deepEqual(
      await system.auth({ identitytoken: "id-token-1", serveraddress: "reg.example.com" }),
      {},
    );
    assert.deepEqual(JSON.parse(new TextDecoder().decode(requests[0]!.body)), {
      identitytoken: "id-token-1",
      serveraddress: "reg.example.com",
    });

    answer = httpResponse(200, `{"Status":"Login Succeeded","IdentityToken":"next"}`);
    assert.deepEqual(await system.auth({ username: "me", password: "pw" }), {
      Status: "Login Succeeded",
      IdentityToken: "next",
    });

    answer = httpResponse(401, `{"message":"token bearer-xyz rejected"}`);
    const error = await rejection(system.auth({ registrytoken: "bearer-xyz" }));
    assert.ok(error instanceof DockerApiError, String(error));
    assert.equal(error.status, 401);
    assert.doesNotMatch(error.message + error.engineMessage, /bearer-xyz/);
  } finally {
    http.close();
  }
});
