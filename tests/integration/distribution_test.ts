/**
 * `GET /distribution/{name}/json` against the test registry: the test image
 * is tagged and pushed there first (raw calls, so this test does not
 * depend on `docker.images`), then inspected with and without credentials.
 */

import assert from "node:assert/strict";
import {
  DockerApiError,
  type DockerCallEvent,
  DockerNotFoundError,
  type DockerObserver,
} from "../../mod.ts";
import { ApiClient, imageSegment } from "../../src/api/_client.ts";
import { Distribution } from "../../src/api/distribution.ts";
import { CredentialStore, encodeAuthHeader, type RegistryAuth } from "../../src/auth.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import { recordObserver } from "../../src/observer.ts";
import { JsonLinesDecoder } from "../../src/stream/json_lines.ts";
import { engineRequired, testEnv } from "./_env.ts";
import { testImage, uniqueName } from "./_docker.ts";

/** An API client on the test engine, closed at the end of the block. */
function apiClient(observer?: DockerObserver): { api: ApiClient } & Disposable {
  const host = testEnv().host;
  const http = new HttpClient({
    connect: createConnector(parseHost(host), 30_000),
    host,
    hostHeader: "docker",
    ...(observer ? { onRecord: recordObserver(observer) } : {}),
  });
  return { api: new ApiClient(http), [Symbol.dispose]: () => http.close() };
}

/** Tags the test image as `repo:tag` and pushes it; returns the pushed digest. */
async function pushTestImage(
  api: ApiClient,
  repo: string,
  tag: string,
  auth: RegistryAuth,
): Promise<string> {
  await api.empty({
    method: "POST",
    path: `/images/${imageSegment(testImage())}/tag`,
    query: { repo, tag },
    action: "tag the test image",
  });
  let digest = "";
  const lines = api.stream<{ aux?: { Digest?: string } }>({
    method: "POST",
    path: `/images/${imageSegment(repo)}/push`,
    query: { tag },
    headers: { "X-Registry-Auth": encodeAuthHeader(auth) },
    action: "push the test image",
  }, () => new JsonLinesDecoder());
  for await (const line of lines) digest = line.aux?.Digest ?? digest;
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  return digest;
}

const registry = testEnv().registry;

Deno.test({
  name: "distribution.inspect returns the digest and platforms of a pushed image",
  ignore: registry === undefined && !engineRequired(),
  async fn() {
    if (!registry) throw new Error("BERTH_TEST_REGISTRY is not set: run with `deno task test`");
    const events: DockerCallEvent[] = [];
    using client = apiClient((event) => events.push(event));
    const { api } = client;
    const auth = {
      username: registry.username,
      password: registry.password,
      serveraddress: registry.address,
    };
    const repo = `${registry.address}/${uniqueName("dist")}`;
    const ref = `${repo}:1.0`;
    try {
      const digest = await pushTestImage(api, repo, "1.0", auth);
      const distribution = new Distribution(api);

      const inspected = await distribution.inspect(ref, { auth });
      assert.equal(inspected.Descriptor?.digest, digest);
      assert.equal(
        inspected.Descriptor?.mediaType,
        "application/vnd.docker.distribution.manifest.v2+json",
      );
      assert.ok((inspected.Descriptor?.size ?? 0) > 0);
      const { Architecture, Os } = await api.json<{ Architecture: string; Os: string }>({
        method: "GET",
        path: `/images/${imageSegment(testImage())}/json`,
        action: "inspect the test image",
      });
      assert.deepEqual(
        inspected.Platforms?.map((p) => [p.os, p.architecture]),
        [[Os, Architecture]],
      );

      // By digest, too.
      const byDigest = await distribution.inspect(`${repo}@${digest}`, { auth });
      assert.equal(byDigest.Descriptor?.digest, digest);

      // Credentials from a store given to the namespace.
      const withStore = new Distribution(api, {
        credentials: CredentialStore.from({ [registry.address]: auth }),
      });
      assert.equal((await withStore.inspect(ref)).Descriptor?.digest, digest);

      // The credentials never show up in what the observer sees.
      const seen = JSON.stringify(events);
      assert.ok(!seen.includes(registry.password));
      assert.ok(events.some((e) => e.requestHeaders["X-Registry-Auth"] === "<redacted>"));
    } finally {
      await api.empty({
        method: "DELETE",
        path: `/images/${imageSegment(ref)}`,
        action: "remove the pushed tag",
      }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "distribution.inspect: an unknown repository or tag is DockerNotFoundError, bad credentials DockerApiError",
  ignore: registry === undefined && !engineRequired(),
  async fn() {
    if (!registry) throw new Error("BERTH_TEST_REGISTRY is not set: run with `deno task test`");
    using client = apiClient();
    const { api } = client;
    const auth = {
      username: registry.username,
      password: registry.password,
      serveraddress: registry.address,
    };
    const distribution = new Distribution(api);
    const repo = `${registry.address}/${uniqueName("dist")}`;
    const ref = `${repo}:1.0`;
    try {
      const unknownRepo = await distribution.inspect(
        `${registry.address}/${uniqueName("none")}:1.0`,
        {
          auth,
        },
      ).then(() => undefined, (error) => error);
      assert.ok(unknownRepo instanceof DockerNotFoundError, String(unknownRepo));
      assert.match(unknownRepo.engineMessage, /manifest unknown/);
      assert.match(
        unknownRepo.message,
        /^Cannot inspect image ".*" in its registry: engine answered/,
      );

      await pushTestImage(api, repo, "1.0", auth);
      const unknownTag = await distribution.inspect(`${repo}:nope`, { auth })
        .then(() => undefined, (error) => error);
      assert.ok(unknownTag instanceof DockerNotFoundError, String(unknownTag));

      const anonymous = await distribution.inspect(ref).then(() => undefined, (error) => error);
      // No credentials: the engine reports the registry's refusal as a 500.
      assert.ok(anonymous instanceof DockerApiError, String(anonymous));
      assert.match(anonymous.message, /no basic auth credentials/);

      const wrong = await distribution.inspect(ref, {
        auth: { ...auth, password: "wrong-password" },
      })
        .then(() => undefined, (error) => error);
      assert.ok(wrong instanceof DockerApiError, String(wrong));
      assert.equal(wrong.status, 401);
      assert.ok(!wrong.message.includes("wrong-password"));
    } finally {
      await api.empty({
        method: "DELETE",
        path: `/images/${imageSegment(ref)}`,
        action: "remove the pushed tag",
      }).catch(() => {});
    }
  },
});

Deno.test("distribution.inspect rejects empty and dot names with TypeError before any I/O", async () => {
  const events: DockerCallEvent[] = [];
  using client = apiClient((event) => events.push(event));
  const distribution = new Distribution(client.api);
  for (const name of ["", " ", "..", "registry:5000/../x", "a//b"]) {
    await assert.rejects(async () => await distribution.inspect(name), TypeError, name);
  }
  assert.deepEqual(events, []);
});
