/**
 * Plugins on the real engine, with a real plugin built here: the test
 * image's exported filesystem as `rootfs/`, plus a `config.json`. The
 * plugin's entrypoint links its socket (`/run/docker/plugins/p.sock`, which
 * the engine dials from the host) to a Unix socket this test listens on,
 * given in the settable variable `TARGET`: busybox has no Unix-socket
 * server, and the engine only checks that something accepts.
 *
 * Docker Hub is never contacted: privileges, pull, push and upgrade run
 * against the test registry, which only `deno task test` provides.
 */

import assert from "node:assert/strict";
import {
  type Docker,
  DockerApiError,
  type DockerCallEvent,
  DockerConflictError,
  DockerNotFoundError,
  type DockerObserver,
  DockerStreamError,
} from "../../mod.ts";
import { recordObserver } from "../../src/observer.ts";
import { CredentialStore } from "../../src/auth.ts";
import { type PluginProgressMessage, Plugins } from "../../src/api/plugins.ts";
import { ApiClient } from "../../src/api/_client.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import { readTar, type TarEntry, tarStream } from "../../src/stream/tar.ts";
import { engineRequired, testEnv } from "./_env.ts";
import { TEST_LABELS, testDocker, testImage, uniqueName } from "./_docker.ts";

/** `docker.plugins` until the lead wires it into Docker: the same namespace over its own client. */
function plugins(
  options: { observer?: DockerObserver; credentials?: CredentialStore } = {},
): Plugins & { close(): void } {
  const address = parseHost(testEnv().host);
  const http = new HttpClient({
    connect: createConnector(address, 30_000),
    host: testEnv().host,
    hostHeader: "docker",
    ...(options.observer ? { onRecord: recordObserver(options.observer) } : {}),
  });
  const namespace = new Plugins(new ApiClient(http), {
    credentials: options.credentials,
  }) as Plugins & { close(): void };
  namespace.close = () => http.close();
  return namespace;
}

const CONFIG = {
  Description: "berth test plugin",
  Documentation: "https://example.invalid/berth",
  Entrypoint: [
    "/bin/sh",
    "-c",
    'ln -sf "$TARGET" /run/docker/plugins/p.sock; trap "exit 0" TERM; sleep 3600 & wait',
  ],
  Interface: { Types: ["docker.dummy/1.0"], Socket: "p.sock" },
  Network: { Type: "host" },
  Env: [
    { Name: "TARGET", Description: "socket to link to", Settable: ["value"], Value: "/none" },
    { Name: "DEBUG", Description: "debug output", Settable: ["value"], Value: "0" },
  ],
};

/** `config.json`, then the exported container filesystem moved under `rootfs/`. */
async function* pluginEntries(export_: ReadableStream<Uint8Array>): AsyncGenerator<TarEntry> {
  yield { name: "config.json", body: JSON.stringify(CONFIG) };
  yield { name: "rootfs", type: "directory" };
  for await (const entry of readTar(export_)) {
    const name = `rootfs/${entry.name.replace(/^\.?\//, "")}`;
    const common = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    if (entry.type === "file") {
      yield { ...common, name, size: entry.size, body: entry.body };
      continue;
    }
    await entry.body.cancel();
    if (entry.type === "directory") yield { ...common, name, type: "directory" };
    else if (entry.type === "symlink") {
      yield { ...common, name, type: "symlink", linkname: entry.linkname };
    } else if (entry.type === "hardlink") {
      const linkname = `rootfs/${entry.linkname.replace(/^\.?\//, "")}`;
      yield { ...common, name, type: "hardlink", linkname };
    }
    // Devices and FIFOs (none in an export of busybox) are left out.
  }
}

/**
 * Runs `fn` with a plugin tar streamed from a fresh container of the test
 * image (its filesystem under `rootfs/`, after `config.json`).
 */
async function withPluginContext<T>(
  docker: Docker,
  fn: (context: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<T> {
  const { Id } = await docker.containers.create({ Image: testImage(), Labels: { ...TEST_LABELS } });
  try {
    return await fn(tarStream(pluginEntries(docker.containers.export(Id))));
  } finally {
    await docker.containers.remove(Id, { force: true });
  }
}

/** The plugin tar as bytes. */
function pluginContext(docker: Docker): Promise<Uint8Array> {
  return withPluginContext(
    docker,
    async (context) => new Uint8Array(await new Response(context).arrayBuffer()),
  );
}

/** A Unix socket that accepts and closes connections: the plugin's socket, as far as the engine checks. */
async function socketServer(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "berth-plugin-" });
  const path = `${dir}/p.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const serving = (async () => {
    try {
      for await (const conn of listener) conn.close();
    } catch {
      // closed
    }
  })();
  return {
    path,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const registry = testEnv().registry;

Deno.test("plugins: create from the exported test image, inspect, set, enable, disable, remove", async () => {
  await using docker = testDocker();
  const api = plugins();
  await using server = await socketServer();
  const name = `${uniqueName("plugin")}:latest`;
  try {
    // Streamed end to end: export -> readTar -> tarStream -> chunked request body.
    await withPluginContext(docker, (context) => api.create(name, context));
    const created = await api.inspect(name);
    assert.equal(created.Name, name);
    assert.equal(created.Enabled, false);
    assert.equal(created.Config?.Description, "berth test plugin");
    // The engine sends interface types as strings, whatever the spec says.
    assert.deepEqual(created.Config?.Interface?.Types, ["docker.dummy/1.0"]);
    assert.deepEqual(created.Settings?.Env, ["TARGET=/none", "DEBUG=0"]);
    const byId = await api.inspect(created.Id!);
    assert.equal(byId.Name, name);

    const listed = await api.list({ filters: { capability: ["dummy"] } });
    assert.ok(listed.some((p) => p.Name === name));

    await assert.rejects(api.create(name, await pluginContext(docker)), DockerConflictError);

    await api.set(name, [`TARGET=${server.path}`, "DEBUG=1"]);
    assert.deepEqual((await api.inspect(name)).Settings?.Env, [
      `TARGET=${server.path}`,
      "DEBUG=1",
    ]);
    await assert.rejects(api.set(name, ["NOT_DECLARED=1"]), DockerApiError);

    await api.enable(name, { timeout: 10 });
    assert.equal((await api.inspect(name)).Enabled, true);
    const enabled = await api.list({ filters: { enabled: ["true"] } });
    assert.ok(enabled.some((p) => p.Name === name));
    // Settings are frozen and removal refused while the plugin runs.
    await assert.rejects(api.set(name, ["DEBUG=0"]), DockerApiError);
    await assert.rejects(api.remove(name), DockerApiError);
    await assert.rejects(api.enable(name), DockerApiError);

    await api.disable(name);
    assert.equal((await api.inspect(name)).Enabled, false);
    await assert.rejects(api.disable(name), DockerApiError);
    const disabled = await api.list({ filters: { enabled: ["false"] } });
    assert.ok(disabled.some((p) => p.Name === name));

    await api.remove(name);
    await assert.rejects(api.inspect(name), DockerNotFoundError);
    assert.ok(!(await api.list()).some((p) => p.Name === name));
  } finally {
    await api.remove(name, { force: true }).catch(() => {});
    api.close();
  }
});

Deno.test("plugins: remove with force takes an enabled plugin away", async () => {
  await using docker = testDocker();
  const api = plugins();
  await using server = await socketServer();
  const name = `${uniqueName("plugin")}:latest`;
  try {
    await api.create(name, await pluginContext(docker));
    await api.set(name, [`TARGET=${server.path}`]);
    await api.enable(name, { timeout: 10 });
    await api.disable(name, { force: true });
    await api.enable(name, { timeout: 10 });
    await api.remove(name, { force: true });
    await assert.rejects(api.inspect(name), DockerNotFoundError);
  } finally {
    await api.remove(name, { force: true }).catch(() => {});
    api.close();
  }
});

Deno.test("plugins: unknown plugins are DockerNotFoundError", async () => {
  const api = plugins();
  const name = `${uniqueName("missing")}:latest`;
  try {
    await assert.rejects(api.inspect(name), DockerNotFoundError);
    await assert.rejects(api.remove(name), DockerNotFoundError);
    await assert.rejects(api.enable(name), DockerNotFoundError);
    await assert.rejects(api.disable(name), DockerNotFoundError);
    await assert.rejects(api.set(name, ["A=1"]), DockerNotFoundError);
    await assert.rejects(async () => await api.push(name), DockerNotFoundError);
    await assert.rejects(
      async () => await api.upgrade(name, "127.0.0.1:1/none:latest"),
      DockerNotFoundError,
    );
  } finally {
    api.close();
  }
});

Deno.test("plugins: empty names and bad arguments are TypeErrors before any I/O", async () => {
  const events: DockerCallEvent[] = [];
  const api = plugins({ observer: (event) => events.push(event) });
  try {
    await assert.rejects(async () => await api.inspect(""), TypeError);
    await assert.rejects(async () => await api.remove(""), TypeError);
    await assert.rejects(async () => await api.enable(""), TypeError);
    await assert.rejects(async () => await api.disable(" "), TypeError);
    await assert.rejects(async () => await api.set("", ["A=1"]), TypeError);
    await assert.rejects(async () => await api.set("x", "A=1" as unknown as string[]), TypeError);
    await assert.rejects(async () => await api.push(""), TypeError);
    await assert.rejects(async () => await api.upgrade("", "x"), TypeError);
    await assert.rejects(async () => await api.upgrade("x", ""), TypeError);
    await assert.rejects(async () => await api.pull(""), TypeError);
    await assert.rejects(async () => await api.pull("x", { name: "" }), TypeError);
    await assert.rejects(async () => await api.privileges(""), TypeError);
    await assert.rejects(async () => await api.create("", new Uint8Array()), TypeError);
    await assert.rejects(
      async () => await api.create("x", "tar" as unknown as Uint8Array),
      TypeError,
    );
    await assert.rejects(async () => await api.inspect(".."), TypeError);
    assert.deepEqual(events, []);
  } finally {
    api.close();
  }
});

Deno.test({
  name: "plugins: push to the test registry, remove, privileges, pull back, upgrade",
  ignore: registry === undefined && !engineRequired(),
  async fn() {
    if (!registry) throw new Error("BERTH_TEST_REGISTRY is not set: run with `deno task test`");
    await using docker = testDocker();
    const events: DockerCallEvent[] = [];
    const api = plugins({ observer: (event) => events.push(event) });
    const auth = {
      username: registry.username,
      password: registry.password,
      serveraddress: registry.address,
    };
    const remote = `${registry.address}/${uniqueName("plugin")}:1.0`;
    const local = `${uniqueName("pulled")}:latest`;
    try {
      await api.create(remote, await pluginContext(docker));
      await assert.rejects(async () => await api.push(remote), (error) => {
        // Without credentials the push fails inside the stream (the engine reports
        // its HTTPS attempt's error rather than the registry's 401).
        assert.ok(error instanceof DockerStreamError || error instanceof DockerApiError);
        return true;
      });
      const progress: PluginProgressMessage[] = [];
      const pushed = await api.push(remote, { auth, onProgress: (m) => progress.push(m) });
      assert.match(pushed.digest ?? "", /^sha256:[0-9a-f]{64}$/);
      assert.equal(pushed.tag, "1.0");
      assert.ok((pushed.size ?? 0) > 0);
      assert.ok(progress.some((m) => m.status === "Upload complete"));
      await api.remove(remote);

      const privileges = await api.privileges(remote, { auth });
      assert.deepEqual(privileges.map((p) => [p.Name, p.Value]), [["network", ["host"]]]);
      // Without `auth`, a credential store given to the namespace supplies it.
      const withStore = plugins({
        credentials: CredentialStore.from({ [registry.address]: auth }),
      });
      try {
        assert.deepEqual(await withStore.privileges(remote), privileges);
      } finally {
        withStore.close();
      }
      // Privileges must match what the plugin asks for.
      await assert.rejects(
        async () => await api.pull(remote, { name: local, auth }),
        (error) => error instanceof DockerStreamError && /incorrect privileges/.test(error.message),
      );
      // Reading the events and awaiting the result, both.
      const pull = api.pull(remote, { name: local, auth, privileges });
      const statuses: string[] = [];
      for await (const message of pull) statuses.push(message.status ?? "");
      assert.ok(statuses.includes(`Digest: ${pushed.digest}`));
      assert.deepEqual(await pull, { digest: pushed.digest });
      const pulled = await api.inspect(local);
      assert.equal(pulled.Name, local);
      assert.equal(pulled.PluginReference, remote);
      assert.equal(pulled.Config?.Description, "berth test plugin");
      assert.equal(pulled.Enabled, false);
      // A second install under the same name: the engine answers 400, not 409.
      await assert.rejects(
        async () => await api.pull(remote, { name: local, auth, privileges: "all" }),
        (error) =>
          error instanceof DockerApiError && error.status === 400 &&
          /already exists/.test(error.message),
      );

      await api.set(local, ["DEBUG=1"]);
      assert.deepEqual(await api.upgrade(local, remote, { auth, privileges: "all" }), {
        digest: pushed.digest,
      });
      const upgraded = await api.inspect(local);
      assert.deepEqual(upgraded.Settings?.Env, ["TARGET=/none", "DEBUG=1"]);

      await assert.rejects(
        async () => await api.pull(`${registry.address}/${uniqueName("absent")}:1.0`, { auth }),
        DockerApiError,
      );
      // The credentials never show up in what the observer sees.
      const seen = JSON.stringify(events);
      assert.ok(!seen.includes(registry.password));
      assert.ok(events.some((e) => e.requestHeaders["X-Registry-Auth"] === "<redacted>"));
    } finally {
      await api.remove(local, { force: true }).catch(() => {});
      await api.remove(remote, { force: true }).catch(() => {});
      api.close();
    }
  },
});
