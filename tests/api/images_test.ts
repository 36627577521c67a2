/** What `Images` calls send, or refuse to send, on a fake engine. */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Images } from "../../src/api/images.ts";
import { CredentialStore, type RegistryAuth } from "../../src/auth.ts";
import { DockerApiError } from "../../src/errors.ts";
import { rejection } from "../_helpers.ts";
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

/** The registry credentials a request carried, decoded (`undefined` when none). */
function sentAuth(request: FakeRequest): Record<string, string> | undefined {
  const header = request.headers["x-registry-auth"];
  if (header === undefined) return undefined;
  const base64 = header.replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(
    new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))),
  );
}

Deno.test("Images.search sends X-Registry-Auth for the registry the term names, as a pull does", async () => {
  const requests: FakeRequest[] = [];
  let answer = httpResponse(200, `[{"name":"team/app","star_count":1}]`);
  await using engine = await startFakeEngine(respondEach((request) => {
    requests.push(request);
    return answer;
  }));
  const http = newClient(engine);
  try {
    const store = CredentialStore.from({
      "registry.example.com:5000": { username: "me", password: "s3cret-pass" },
      "docker.io": { username: "hub", password: "hub-pass" },
    });
    const images = new Images(new ApiClient(http, { apiVersion: "1.41" }), { credentials: store });

    assert.deepEqual(await images.search("registry.example.com:5000/team/app"), [
      { name: "team/app", star_count: 1 },
    ]);
    assert.deepEqual(sentAuth(requests.at(-1)!), {
      username: "me",
      password: "s3cret-pass",
      serveraddress: "registry.example.com:5000",
    });
    // A term without a host part is a Docker Hub search.
    await images.search("team/app");
    assert.equal(sentAuth(requests.at(-1)!)?.username, "hub");
    assert.equal(sentAuth(requests.at(-1)!)?.serveraddress, "https://index.docker.io/v1/");
    // The call's own credentials win; `false` sends none.
    await images.search("registry.example.com:5000/app", { auth: { registrytoken: "tok" } });
    assert.deepEqual(sentAuth(requests.at(-1)!), {
      registrytoken: "tok",
      serveraddress: "registry.example.com:5000",
    });
    await images.search("registry.example.com:5000/app", { auth: false });
    assert.equal(sentAuth(requests.at(-1)!), undefined);
    // No credentials for the registry: no header.
    await images.search("other.example.com/app");
    assert.equal(sentAuth(requests.at(-1)!), undefined);

    // The registry's refusal names the call, never the password.
    answer = httpResponse(
      500,
      `{"message":"Get https://registry.example.com:5000/v1/search: unauthorized (s3cret-pass)"}`,
    );
    const error = await rejection(images.search("registry.example.com:5000/team/app"));
    assert.ok(error instanceof DockerApiError, String(error));
    assert.match(error.message, /search images for "registry\.example\.com:5000\/team\/app"/);
    assert.doesNotMatch(JSON.stringify(error) + error.message + error.engineMessage, /s3cret-pass/);
    await assert.rejects(
      images.search("team/app", { auth: "nope" as unknown as RegistryAuth }),
      TypeError,
    );
  } finally {
    http.close();
  }
});

Deno.test("Images.pruneBuildCache refuses label filters, which the engine ignores, and sends nothing", async () => {
  const requests: FakeRequest[] = [];
  await using engine = await startFakeEngine(respondEach((request) => {
    requests.push(request);
    return httpResponse(200, `{"CachesDeleted":null,"SpaceReclaimed":0}`);
  }));
  const http = newClient(engine);
  try {
    const images = new Images(new ApiClient(http, { apiVersion: "1.41" }));
    for (const key of ["label", "label!"]) {
      const error = await rejection(images.pruneBuildCache({ filters: { [key]: ["team=a"] } }));
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /ignores it, so all build cache would go/);
    }
    assert.equal(requests.length, 0);
    // The filters the engine applies still go through.
    const result = await images.pruneBuildCache({ filters: { until: ["24h"], type: ["regular"] } });
    assert.deepEqual(result.CachesDeleted, []);
    assert.equal(requests.length, 1);
    const query = new URL(`http://d${requests[0]!.target}`).searchParams;
    assert.deepEqual(JSON.parse(query.get("filters")!), { until: ["24h"], type: ["regular"] });
  } finally {
    http.close();
  }
});
