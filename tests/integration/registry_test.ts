/**
 * Push and pull against the real htpasswd registry the test task starts
 * (`testEnv().registry`, `127.0.0.1:PORT`): credentials given per call,
 * from a generated Docker config (`auths` in a temp `DOCKER_CONFIG`), and
 * from a fake credential helper on PATH; bad credentials; and a check that
 * no password (nor its base64 forms) reaches an error or an observer event.
 *
 * Run it alone with `deno task test tests/integration/registry_test.ts`
 * (the task starts the engine and the registry).
 */

import assert from "node:assert/strict";
import {
  DockerApiError,
  type DockerCallEvent,
  DockerError,
  DockerNotFoundError,
  DockerStreamError,
} from "../../mod.ts";
import { ApiClient } from "../../src/api/_client.ts";
import { Images, type ImagesOptions } from "../../src/api/images.ts";
import {
  authSecrets,
  CredentialStore,
  encodeAuthHeader,
  type RegistryAuth,
} from "../../src/auth.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, formatHost, parseHost } from "../../src/http/transport.ts";
import { type DockerObserver, recordObserver } from "../../src/observer.ts";
import type { CreateImageInfo } from "../../src/types/mod.ts";
import type { ImagePushEvent } from "../../src/stream/progress.ts";
import { engineRequired, type TestRegistryEnv } from "./_env.ts";
import { TEST_LABELS, testDocker, testEnv, testImage, text, uniqueName } from "./_docker.ts";

const registry: TestRegistryEnv | undefined = testEnv().registry;
/** Without a registry the tests are skipped, except where one is required (task, CI). */
const ignore = registry === undefined && !engineRequired();

/** The registry, or a failure saying how to get one. */
function reg(): TestRegistryEnv {
  if (!registry) {
    throw new Error(
      "BERTH_TEST_REGISTRY is not set: run `deno task test tests/integration/registry_test.ts`",
    );
  }
  return registry;
}

/** An `Images` namespace on its own client; closed with `await using`. */
function openImages(
  options: ImagesOptions & { observer?: DockerObserver } = {},
): { images: Images } & AsyncDisposable {
  const address = parseHost(testEnv().host);
  const httpOptions: ConstructorParameters<typeof HttpClient>[0] = {
    connect: createConnector(address, 30_000),
    host: formatHost(address),
    hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
  };
  if (options.observer) httpOptions.onRecord = recordObserver(options.observer);
  const http = new HttpClient(httpOptions);
  const images = new Images(new ApiClient(http), { credentials: options.credentials });
  return {
    images,
    [Symbol.asyncDispose]: () => {
      http.close();
      return Promise.resolve();
    },
  };
}

/** A unique repository in the test registry: `127.0.0.1:PORT/berth-test/<name>`. */
function remoteRepo(prefix: string): string {
  return `${reg().address}/berth-test/${uniqueName(prefix)}`;
}

/** The registry's good credentials. */
function goodAuth(): RegistryAuth {
  const { address, username, password } = reg();
  return { username, password, serveraddress: address };
}

/** Tags the test image as `ref` and pushes it with `auth`; returns the digest. */
async function pushTestImage(images: Images, ref: string, auth?: RegistryAuth): Promise<string> {
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(":")), ref.slice(ref.lastIndexOf(":") + 1)];
  await images.tag(testImage(), repo, { tag });
  const result = await images.push(ref, auth ? { auth } : {});
  assert.match(result.digest ?? "", /^sha256:[0-9a-f]{64}$/);
  return result.digest!;
}

/** Removes local images, ignoring those already gone. */
async function removeImages(images: Images, ...names: string[]): Promise<void> {
  for (const name of names) {
    await images.remove(name, { force: true }).catch((error) => {
      if (!(error instanceof DockerNotFoundError)) throw error;
    });
  }
}

/** Runs `echo <word>` in a container of `image`; returns its output. */
async function runEcho(image: string, word: string): Promise<string> {
  await using docker = testDocker();
  const run = await docker.containers.run(
    { Image: image, Cmd: ["echo", word], Labels: { ...TEST_LABELS } },
    { remove: true },
  );
  assert.equal(run.exitCode, 0);
  return text(run.stdout);
}

/** Sets environment variables for the duration of `fn`, then restores them. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((key) => [key, Deno.env.get(key)]));
  for (const [key, value] of Object.entries(vars)) Deno.env.set(key, value);
  try {
    return await fn();
  } finally {
    for (const [key, value] of Object.entries(old)) {
      if (value === undefined) Deno.env.delete(key);
      else Deno.env.set(key, value);
    }
  }
}

/** Everything an error shows: message, stack, inspect, own props as JSON, along its cause chain. */
function serialiseError(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    parts.push(String(current), Deno.inspect(current, { depth: 10, showHidden: true }));
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? "");
      const own: Record<string, unknown> = {};
      for (const key of Object.getOwnPropertyNames(current)) {
        own[key] = (current as unknown as Record<string, unknown>)[key];
      }
      try {
        parts.push(JSON.stringify(own));
      } catch {
        // A cycle: inspect above covers it.
      }
      current = current.cause;
    } else {
      break;
    }
  }
  return parts.join("\n");
}

/** Asserts that no form of `auth`'s secrets appears in `haystack`. */
function assertNoSecret(haystack: string, auth: RegistryAuth, where: string): void {
  const needles = [
    ...authSecrets(auth),
    auth.password!,
    btoa(`${auth.username}:${auth.password}`),
    encodeAuthHeader(auth),
    encodeAuthHeader({ username: auth.username!, password: auth.password! }),
  ];
  for (const needle of needles) {
    assert.ok(!haystack.includes(needle), `${where} contains a secret (${needle.slice(0, 3)}…)`);
  }
}

// ---------------------------------------------------------------------------

Deno.test({
  name:
    "images.push with good credentials gives the digest; pull brings the image back, typed, and awaits its presence",
  ignore,
  async fn() {
    await using client = openImages();
    const { images } = client;
    const repo = remoteRepo("push");
    const ref = `${repo}:v1`;
    let digest = "";
    try {
      await images.tag(testImage(), repo, { tag: "v1" });
      const pushEvents: ImagePushEvent[] = [];
      const pushed = await images.push(ref, {
        auth: goodAuth(),
        onProgress: (event) => pushEvents.push(event),
      });
      assert.match(pushed.digest ?? "", /^sha256:[0-9a-f]{64}$/);
      digest = pushed.digest!;
      assert.equal(pushed.tag, "v1");
      assert.ok((pushed.size ?? 0) > 0);
      // The layer is uploaded, already there, or mounted from another
      // repository of the same registry (when an earlier test pushed it).
      assert.ok(
        pushEvents.some((event) =>
          event.status === "Pushed" || event.status === "Layer already exists" ||
          event.status?.startsWith("Mounted from ")
        ),
        JSON.stringify(pushEvents.map((event) => event.status)),
      );
      assert.deepEqual(pushEvents.findLast((event) => event.aux)?.aux?.Digest, pushed.digest);

      await images.remove(ref);
      await assert.rejects(() => images.inspect(ref), DockerNotFoundError);

      const pull = images.pull(ref, { auth: goodAuth() });
      const events: CreateImageInfo[] = [];
      for await (const event of pull) {
        assert.equal(typeof event, "object");
        if (event.status !== undefined) assert.equal(typeof event.status, "string");
        events.push(event);
      }
      const result = await pull;
      // Right after the await, the image exists (PEERS #2).
      const inspected = await images.inspect(ref);
      assert.deepEqual(result, {
        image: ref,
        digest: pushed.digest,
        status: `Downloaded newer image for ${ref}`,
      });
      assert.ok(
        inspected.RepoDigests?.includes(`${repo}@${pushed.digest}`),
        String(inspected.RepoDigests),
      );
      assert.ok(events.some((event) => event.status === `Digest: ${pushed.digest}`));
      assert.ok(
        events.some((event) => event.id === "v1" && /Pulling from/.test(event.status ?? "")),
      );

      const listed = await images.list({ filters: { reference: [repo] }, digests: true });
      assert.deepEqual(listed.map((image) => image.RepoDigests), [[`${repo}@${pushed.digest}`]]);

      // Pulling again: up to date; by digest too.
      assert.equal(
        (await images.pull(ref, { auth: goodAuth() })).status,
        `Image is up to date for ${ref}`,
      );
      const byDigest = await images.pull(`${repo}@${pushed.digest}`, { auth: goodAuth() });
      assert.equal(byDigest.image, `${repo}@${pushed.digest}`);
      assert.equal(await runEcho(ref, "pulled"), "pulled\n");
    } finally {
      await removeImages(images, ref, ...(digest ? [`${repo}@${digest}`] : []));
    }
  },
});

Deno.test({
  name:
    "images.push and pull with bad or no credentials reject with the engine's message, and no secret leaks",
  ignore,
  async fn() {
    const events: DockerCallEvent[] = [];
    await using client = openImages({ observer: (event) => events.push(event) });
    const { images } = client;
    const good = goodAuth();
    const bad: RegistryAuth = { ...good, password: `wrong-${crypto.randomUUID()}` };
    const repo = remoteRepo("badauth");
    const ref = `${repo}:v1`;
    const errors: unknown[] = [];
    try {
      await images.tag(testImage(), repo, { tag: "v1" });

      // The engine reports a refused push inside the 200 stream...
      const pushError = await images.push(ref, { auth: bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      errors.push(pushError);
      assert.ok(pushError instanceof DockerStreamError, String(pushError));
      // The message names the push, as a refused pull's names the pull.
      assert.equal(pushError.message, `Cannot push image "${ref}": ${pushError.engineMessage}`);
      assert.match(pushError.engineMessage, /unauthorized: authentication required/);

      // No credentials at all: the engine still needs the header (sent as `{}`).
      const anonymous = await images.push(ref).then(() => undefined, (e: unknown) => e);
      errors.push(anonymous);
      assert.ok(anonymous instanceof DockerStreamError, String(anonymous));
      assert.match(anonymous.message, /no basic auth credentials|unauthorized/);
      const pushCall = events.find((event) =>
        event.method === "POST" && event.path.includes("/push")
      );
      assert.equal(pushCall?.requestHeaders["X-Registry-Auth"], "<redacted>");

      // A successful push, observed as well.
      await images.push(ref, { auth: good });
      await images.remove(ref);

      // ... and a refused pull with an error status, before any progress.
      const pullError = await images.pull(ref, { auth: bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      errors.push(pullError);
      assert.ok(pullError instanceof DockerApiError, String(pullError));
      assert.match(
        pullError.message,
        new RegExp(`^Cannot pull image "${ref}": engine answered 500 .*unauthorized`),
      );

      const missing = `${reg().address}/berth-test/${uniqueName("nope")}:v1`;
      const notFound = await images.pull(missing, { auth: good }).then(
        () => undefined,
        (e: unknown) => e,
      );
      errors.push(notFound);
      assert.ok(notFound instanceof DockerNotFoundError, String(notFound));
      assert.match(notFound.engineMessage, /manifest unknown|not found/);

      const everything = [
        ...errors.map(serialiseError),
        ...events.map((event) => JSON.stringify({ ...event, error: undefined })),
        ...events.map((event) => serialiseError(event.error)),
        ...events.map((event) => Deno.inspect(event, { depth: 10 })),
      ].join("\n");
      assertNoSecret(everything, good, "errors and observer events");
      assertNoSecret(everything, bad, "errors and observer events");
      assert.ok(events.length >= 5, `observed ${events.length} calls`);
    } finally {
      await removeImages(images, ref);
    }
  },
});

Deno.test({
  name:
    "images.pull takes credentials from a Docker config.json (auths) found through DOCKER_CONFIG",
  ignore,
  async fn() {
    const { address, username, password } = reg();
    const dir = await Deno.makeTempDir({ prefix: "berth-docker-config-" });
    const repo = remoteRepo("config");
    const ref = `${repo}:v1`;
    await using client = openImages({ credentials: CredentialStore.fromDockerConfig() });
    const { images } = client;
    try {
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          auths: { [`http://${address}`]: { auth: btoa(`${username}:${password}`) } },
        }),
      );
      await withEnv({ DOCKER_CONFIG: dir }, async () => {
        await pushTestImage(images, ref); // the store's credentials
        await images.remove(ref);
        const pulled = await images.pull(ref);
        assert.equal(pulled.image, ref);
        assert.match(pulled.status, /^Downloaded newer image for /);
        assert.equal(await runEcho(ref, "from-config"), "from-config\n");
        // `auth: false` overrides the store: the registry refuses.
        await images.remove(ref);
        await assert.rejects(async () => await images.pull(ref, { auth: false }), DockerError);
      });
    } finally {
      await removeImages(images, ref);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "images.pull takes credentials from a docker-credential-berthtest helper on PATH",
  ignore,
  async fn() {
    const { address, username, password } = reg();
    const dir = await Deno.makeTempDir({ prefix: "berth-cred-helper-" });
    const log = `${dir}/calls.log`;
    const repo = remoteRepo("helper");
    const ref = `${repo}:v1`;
    await using client = openImages({ credentials: CredentialStore.fromDockerConfig() });
    const { images } = client;
    try {
      const helper = `${dir}/docker-credential-berthtest`;
      const secret = JSON.stringify({ ServerURL: address, Username: username, Secret: password });
      await Deno.writeTextFile(
        helper,
        [
          "#!/bin/sh",
          "read -r server",
          `echo "$1 $server" >> '${log}'`,
          `if [ "$1" = get ] && [ "$server" = '${address}' ]; then`,
          `  cat <<'EOF'\n${secret}\nEOF`,
          "  exit 0",
          "fi",
          'echo "credentials not found in native keychain"; exit 1',
        ].join("\n") + "\n",
      );
      await Deno.chmod(helper, 0o755);
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({ credHelpers: { [address]: "berthtest" } }),
      );
      await withEnv(
        { DOCKER_CONFIG: dir, PATH: `${dir}:${Deno.env.get("PATH") ?? ""}` },
        async () => {
          await pushTestImage(images, ref);
          await images.remove(ref);
          const pulled = await images.pull(ref);
          assert.match(pulled.digest ?? "", /^sha256:/);
          assert.equal(await runEcho(ref, "from-helper"), "from-helper\n");
        },
      );
      const calls = (await Deno.readTextFile(log)).trim().split("\n");
      assert.ok(
        calls.length >= 2 && calls.every((call) => call === `get ${address}`),
        calls.join(),
      );
    } finally {
      await removeImages(images, ref);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "images.pull aborted by its signal mid-stream rejects with the reason and closes the call",
  ignore,
  async fn() {
    const events: DockerCallEvent[] = [];
    await using client = openImages({ observer: (event) => events.push(event) });
    const { images } = client;
    const repo = remoteRepo("abort");
    const ref = `${repo}:v1`;
    try {
      await pushTestImage(images, ref, goodAuth());
      await images.remove(ref);
      const controller = new AbortController();
      const reason = new Error("stop pulling");
      const pull = images.pull(ref, { auth: goodAuth(), signal: controller.signal });
      let seen = 0;
      await assert.rejects(async () => {
        for await (const _ of pull) {
          seen++;
          controller.abort(reason);
        }
      }, (e) => e === reason);
      assert.equal(seen, 1);
      await assert.rejects(async () => await pull, (e) => e === reason);
      const call = events.findLast((event) => event.path.includes("/images/create"));
      assert.equal(call?.error, reason);
    } finally {
      await removeImages(images, ref);
    }
  },
});
