/**
 * `docker.networks` against the real test engine: every method's success,
 * its not-found or conflict answer, and its empty-id check. The private
 * test engine runs without the default bridge (`--bridge none`), so every
 * network here is a user-defined bridge.
 */

import assert from "node:assert/strict";
import {
  type Docker,
  DockerApiError,
  DockerConflictError,
  DockerNotFoundError,
  type NetworkCreateBody,
} from "../../mod.ts";
import { TEST_LABELS, testDocker, text, uniqueName, withContainer } from "./_docker.ts";

/** Creates a labelled bridge network, runs `fn`, and removes the network whatever happens. */
async function withNetwork<T>(
  docker: Docker,
  fn: (id: string, name: string) => Promise<T>,
  body: Partial<NetworkCreateBody> = {},
): Promise<T> {
  const name = body.Name ?? uniqueName("net");
  const { Id } = await docker.networks.create({
    Driver: "bridge",
    ...body,
    Name: name,
    Labels: { ...TEST_LABELS, ...body.Labels },
  });
  try {
    return await fn(Id, name);
  } finally {
    await docker.networks.remove(Id).catch(() => {});
  }
}

/** Runs `fn` with a started `sleep` container, removed afterwards. */
function withRunning<T>(
  docker: Docker,
  fn: (id: string, name: string) => Promise<T>,
  networkMode?: string,
): Promise<T> {
  const body = networkMode
    ? { Cmd: ["sleep", "60"], HostConfig: { NetworkMode: networkMode } }
    : { Cmd: ["sleep", "60"] };
  return withContainer(docker, body, async (id, name) => {
    await docker.containers.start(id);
    return await fn(id, name);
  });
}

Deno.test("Networks methods reject an empty or dot id with TypeError before any I/O", async (t) => {
  // An unroutable host: any I/O would fail with a connection error, not a TypeError.
  await using docker = testDocker({ host: "unix:///nonexistent/berth.sock" });
  const n = docker.networks;
  const calls: Record<string, (id: string) => unknown> = {
    inspect: (id) => n.inspect(id),
    create: (id) => n.create({ Name: id }),
    remove: (id) => n.remove(id),
    connect: (id) => n.connect(id, { Container: "c" }),
    "connect (container)": (id) => n.connect("net", { Container: id }),
    disconnect: (id) => n.disconnect(id, { Container: "c" }),
    "disconnect (container)": (id) => n.disconnect("net", { Container: id, Force: true }),
  };
  for (const [method, call] of Object.entries(calls)) {
    await t.step(method, async () => {
      for (const id of ["", " ", ".", ".."]) {
        await assert.rejects(
          async () => await call(id),
          TypeError,
          `${method}(${JSON.stringify(id)})`,
        );
      }
    });
  }
  await t.step("connect without a Container", async () => {
    await assert.rejects(async () => await n.connect("net", {}), TypeError);
  });
});

Deno.test("Networks create, inspect, list by label and remove a labelled bridge network", async () => {
  await using docker = testDocker();
  const mark = uniqueName("mark");
  const name = uniqueName("net");
  const { Id, Warning } = await docker.networks.create({
    Name: name,
    Driver: "bridge",
    Internal: true,
    Attachable: true,
    EnableIPv6: false,
    IPAM: { Driver: "default", Config: [{ Subnet: "10.213.7.0/24", Gateway: "10.213.7.1" }] },
    Options: { "com.docker.network.bridge.enable_icc": "true" },
    Labels: { ...TEST_LABELS, "berth.test.mark": mark },
  });
  try {
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.equal(Warning, "");

    const byName = await docker.networks.inspect(name);
    assert.equal(byName.Id, Id);
    assert.equal(byName.Driver, "bridge");
    assert.equal(byName.Scope, "local");
    assert.equal(byName.Internal, true);
    assert.equal(byName.Attachable, true);
    assert.equal(byName.Labels?.["berth.test.mark"], mark);
    assert.equal(byName.Options?.["com.docker.network.bridge.enable_icc"], "true");
    assert.deepEqual(byName.IPAM?.Config, [{ Subnet: "10.213.7.0/24", Gateway: "10.213.7.1" }]);

    const byId = await docker.networks.inspect(Id, { verbose: true, scope: "local" });
    assert.equal(byId.Name, name);
    await assert.rejects(docker.networks.inspect(Id, { scope: "swarm" }), DockerNotFoundError);

    const listed = await docker.networks.list({ filters: { label: [`berth.test.mark=${mark}`] } });
    assert.deepEqual(listed.map((network) => network.Id), [Id]);
    const none = await docker.networks.list({
      filters: { label: [`berth.test.mark=${mark}-none`] },
    });
    assert.deepEqual(none, []);
  } finally {
    await docker.networks.remove(Id).catch(() => {});
  }
  await assert.rejects(docker.networks.inspect(Id), DockerNotFoundError);
});

Deno.test("Networks.create throws DockerConflictError for a name in use (CheckDuplicate by default)", async () => {
  await using docker = testDocker();
  await withNetwork(docker, async (_id, name) => {
    const error = await docker.networks.create({ Name: name, Labels: { ...TEST_LABELS } }).catch((
      e,
    ) => e);
    assert.ok(error instanceof DockerConflictError, String(error));
    assert.equal(error.status, 409);
    assert.match(error.message, new RegExp(`create network "${name}".*already exists`));
    const same = await docker.networks.list({ filters: { name: [`^${name}$`] } });
    assert.equal(same.length, 1, "no second network of the same name");
  });
});

Deno.test("Networks.create and Networks.remove refuse predefined networks with 403", async () => {
  await using docker = testDocker();
  const create = await docker.networks.create({ Name: "host" }).catch((e) => e);
  assert.ok(create instanceof DockerApiError, String(create));
  assert.equal(create.status, 403);
  const remove = await docker.networks.remove("host").catch((e) => e);
  assert.ok(remove instanceof DockerApiError, String(remove));
  assert.equal(remove.status, 403);
});

Deno.test("Networks inspect, remove, connect and disconnect throw DockerNotFoundError for a missing network", async () => {
  await using docker = testDocker();
  const missing = uniqueName("missing");
  await assert.rejects(docker.networks.inspect(missing), DockerNotFoundError);
  await assert.rejects(docker.networks.remove(missing), DockerNotFoundError);
  // A running container: engine 20.10 accepts connecting a created (never
  // started) container to any name and only fails when it starts.
  await withRunning(docker, async (id) => {
    await assert.rejects(docker.networks.connect(missing, { Container: id }), DockerNotFoundError);
    // Without Force: with it, the engine skips the lookup and answers "not connected".
    await assert.rejects(
      docker.networks.disconnect(missing, { Container: id }),
      DockerNotFoundError,
    );
  });
});

Deno.test("Networks.connect throws DockerNotFoundError for a missing container", async () => {
  await using docker = testDocker();
  await withNetwork(docker, async (id) => {
    const container = uniqueName("nobody");
    const error = await docker.networks.connect(id, { Container: container }).catch((e) => e);
    assert.ok(error instanceof DockerNotFoundError, String(error));
    assert.match(error.message, new RegExp(`connect container "${container}"`));
  });
});

Deno.test("Networks connect and disconnect a running container, seen in both inspects", async () => {
  await using docker = testDocker();
  await withNetwork(docker, async (networkId, networkName) => {
    await withRunning(docker, async (containerId, containerName) => {
      await docker.networks.connect(networkName, {
        Container: containerName,
        EndpointConfig: { Aliases: ["berth-alias"] },
      });
      const connected = await docker.containers.inspect(containerId);
      const endpoint = connected.NetworkSettings?.Networks?.[networkName];
      assert.ok(endpoint, `container is on ${networkName}`);
      assert.equal(endpoint.NetworkID, networkId);
      assert.ok(endpoint.Aliases?.includes("berth-alias"), JSON.stringify(endpoint.Aliases));
      assert.match(endpoint.IPAddress ?? "", /^\d+\.\d+\.\d+\.\d+$/);
      const network = await docker.networks.inspect(networkId);
      assert.ok(network.Containers?.[containerId], "network lists the container");

      // Removing a network a running container uses is refused.
      const busy = await docker.networks.remove(networkId).catch((e) => e);
      assert.ok(busy instanceof DockerApiError, String(busy));

      await docker.networks.disconnect(networkId, { Container: containerId });
      const disconnected = await docker.containers.inspect(containerId);
      assert.equal(disconnected.NetworkSettings?.Networks?.[networkName], undefined);
      const after = await docker.networks.inspect(networkId);
      assert.deepEqual(Object.keys(after.Containers ?? {}), []);

      // Not connected any more: the engine refuses (500 on 20.10, 403 on some versions).
      const again = await docker.networks.disconnect(networkId, { Container: containerId })
        .catch((e) => e);
      assert.ok(again instanceof DockerApiError, String(again));
      assert.match(again.engineMessage, /not connected/);
    });
  });
});

Deno.test("Networks: two containers on a user bridge resolve and reach each other by name", async () => {
  await using docker = testDocker();
  await withNetwork(docker, async (_id, network) => {
    await withRunning(docker, async (_a, first) => {
      await withRunning(docker, async (second) => {
        const result = await docker.exec.run(second, [
          "sh",
          "-c",
          `nslookup ${first} 127.0.0.11 && ping -c1 -W5 ${first}`,
        ]);
        assert.equal(result.exitCode, 0, text(result.stdout) + text(result.stderr));
        assert.match(text(result.stdout), new RegExp(`Name:\\s+${first}`));
        assert.match(text(result.stdout), /1 packets received/);
      }, network);
    }, network);
  });
});

Deno.test("Networks.prune removes only unused networks matching the label filter", async () => {
  await using docker = testDocker();
  const mark = uniqueName("prune");
  const labels = { "berth.test.prune": mark };
  await withNetwork(docker, async (_targetId, target) => {
    await withNetwork(docker, async (_keptId, kept) => {
      await withNetwork(docker, async (_usedId, used) => {
        await withRunning(docker, async () => {
          const result = await docker.networks.prune({
            filters: { label: [`berth.test.prune=${mark}`] },
          });
          assert.deepEqual(result.NetworksDeleted, [target]);
        }, used);
        await assert.rejects(docker.networks.inspect(target), DockerNotFoundError);
        assert.equal((await docker.networks.inspect(kept)).Name, kept);
        assert.equal((await docker.networks.inspect(used)).Name, used);
        const none = await docker.networks.prune({
          filters: { label: [`berth.test.prune=${mark}-none`] },
        });
        assert.deepEqual(none.NetworksDeleted, [], "nothing pruned is an empty array, not null");
      }, { Labels: labels });
    });
  }, { Labels: labels });
});
