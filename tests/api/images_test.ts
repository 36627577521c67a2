/** The query `Images.import` sends, on a fake engine. */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Images } from "../../src/api/images.ts";
import {
  type FakeRequest,
  httpResponse,
  newClient,
  respondEach,
  startFakeEngine,
} from "../_fake_engine.ts";

Deno.test("Images.import puts the tag inside repo when repo has none (Podman ignores tag)", async () => {
  const requests: FakeRequest[] = [];
  await using engine = await startFakeEngine(respondEach((request) => {
    requests.push(request);
    return httpResponse(200, `{"status":"sha256:${"c".repeat(64)}"}\n`);
  }));
  const http = newClient(engine);
  try {
    const images = new Images(new ApiClient(http, { apiVersion: "1.41" }));
    const cases: [{ repo?: string; tag?: string }, Record<string, string | null>][] = [
      [{ repo: "app", tag: "1" }, { repo: "app:1", tag: null }],
      [{ repo: "reg:5000/team/app", tag: "1" }, { repo: "reg:5000/team/app:1", tag: null }],
      // A repo with a tag of its own keeps Docker's own reading of both.
      [{ repo: "app:x", tag: "1" }, { repo: "app:x", tag: "1" }],
      [{ repo: "app" }, { repo: "app", tag: null }],
      [{}, { repo: null, tag: null }],
    ];
    for (const [options, expected] of cases) {
      requests.length = 0;
      await images.import(new Uint8Array(1024), options);
      const query = new URL(`http://d${requests[0]!.target}`).searchParams;
      for (const [key, value] of Object.entries(expected)) {
        assert.equal(query.get(key), value, `${JSON.stringify(options)}: ${key}`);
      }
    }
  } finally {
    http.close();
  }
});
