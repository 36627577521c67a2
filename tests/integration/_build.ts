/**
 * What the build tests share: an API client of their own, temporary build
 * contexts, and a way to run a command in a built image.
 */

import assert from "node:assert/strict";
import { ApiClient } from "../../src/api/_client.ts";
import { Containers } from "../../src/api/containers.ts";
import { Images } from "../../src/api/images.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import { type DockerObserver, recordObserver } from "../../src/observer.ts";
import { testEnv } from "./_env.ts";
import { TEST_LABELS, text } from "./_docker.ts";

/** An API client and the namespaces the tests need, closed at the end of the block. */
export function client(
  observer?: DockerObserver,
): { api: ApiClient; images: Images; containers: Containers } & Disposable {
  const host = testEnv().host;
  const http = new HttpClient({
    connect: createConnector(parseHost(host), 30_000),
    host,
    hostHeader: "docker",
    ...(observer ? { onRecord: recordObserver(observer) } : {}),
  });
  const api = new ApiClient(http);
  return {
    api,
    images: new Images(api),
    containers: new Containers(api),
    [Symbol.dispose]: () => http.close(),
  };
}

/** A temporary build context with the given files, removed by `Symbol.asyncDispose`. */
export async function contextDir(
  files: Record<string, string>,
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "berth-build-" });
  for (const [name, content] of Object.entries(files)) {
    const full = `${path}/${name}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs `sh -c script` in a throwaway container of `image`; returns its stdout. */
export async function runIn(
  containers: Containers,
  image: string,
  script: string,
): Promise<string> {
  const { exitCode, stdout, stderr } = await containers.run(
    { Image: image, Cmd: ["sh", "-c", script], Labels: { ...TEST_LABELS } },
    { remove: true },
  );
  assert.equal(exitCode, 0, text(stderr));
  return text(stdout);
}
