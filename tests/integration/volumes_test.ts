/**
 * `docker.volumes` against the real test engine: every method's success,
 * its not-found or conflict answer, and its empty-name check.
 */

import assert from "node:assert/strict";
import { DockerConflictError, DockerNotFoundError } from "../../mod.ts";
import { TEST_LABELS, testDocker, uniqueName, withContainer } from "./_docker.ts";

Deno.test("Volumes methods reject an empty or dot name with TypeError before any I/O", async (t) => {
  // An unroutable host: any I/O would fail with a connection error, not a TypeError.
  await using docker = testDocker({ host: "unix:///nonexistent/berth.sock" });
  const v = docker.volumes;
  const calls: Record<string, (name: string) => unknown> = {
    create: (name) => v.create({ Name: name }),
    inspect: (name) => v.inspect(name),
    remove: (name) => v.remove(name, { force: true }),
  };
  for (const [method, call] of Object.entries(calls)) {
    await t.step(method, async () => {
      for (const name of ["", " ", ".", ".."]) {
        // Thrown or rejected, as long as it is a TypeError and not a connection error.
        await assert.rejects(
          async () => await call(name),
          TypeError,
          `${method}(${JSON.stringify(name)})`,
        );
      }
    });
  }
});

Deno.test("Volumes create, inspect, list by label and remove a labelled volume", async () => {
  await using docker = testDocker();
  const name = uniqueName("vol");
  const mark = uniqueName("mark");
  const created = await docker.volumes.create({
    Name: name,
    Driver: "local",
    Labels: { ...TEST_LABELS, "berth.test.mark": mark },
  });
  try {
    assert.equal(created.Name, name);
    assert.equal(created.Driver, "local");
    assert.equal(created.Labels?.["berth.test.mark"], mark);

    const inspected = await docker.volumes.inspect(name);
    assert.equal(inspected.Name, name);
    assert.equal(inspected.Scope, "local");
    assert.ok(inspected.Mountpoint, "a local volume has a mount point");

    const { Volumes, Warnings } = await docker.volumes.list({
      filters: { label: [`berth.test.mark=${mark}`] },
    });
    assert.deepEqual(Volumes.map((volume) => volume.Name), [name]);
    assert.ok(Array.isArray(Warnings));

    const none = await docker.volumes.list({
      filters: { label: [`berth.test.mark=${mark}-other`] },
    });
    assert.deepEqual(none.Volumes, [], "an empty list is an array, not null");
  } finally {
    await docker.volumes.remove(name, { force: true }).catch(() => {});
  }
  await assert.rejects(docker.volumes.inspect(name), DockerNotFoundError);
});

Deno.test("Volumes.create without a name lets the engine choose one", async () => {
  await using docker = testDocker();
  const volume = await docker.volumes.create({ Labels: { ...TEST_LABELS } });
  try {
    assert.match(volume.Name, /^[0-9a-f]{64}$/);
  } finally {
    await docker.volumes.remove(volume.Name);
  }
});

Deno.test("Volumes.create passes DriverOpts to the local driver", async () => {
  await using docker = testDocker();
  const name = uniqueName("tmpfs");
  const volume = await docker.volumes.create({
    Name: name,
    DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" },
    Labels: { ...TEST_LABELS },
  });
  try {
    assert.deepEqual(volume.Options, { type: "tmpfs", device: "tmpfs", o: "size=1m" });
  } finally {
    await docker.volumes.remove(name);
  }
});

Deno.test("Volumes.inspect and Volumes.remove throw DockerNotFoundError for a missing volume", async () => {
  await using docker = testDocker();
  const name = uniqueName("missing");
  const error = await docker.volumes.inspect(name).catch((e) => e);
  assert.ok(error instanceof DockerNotFoundError);
  assert.equal(error.status, 404);
  assert.match(error.message, new RegExp(`inspect volume "${name}"`));
  await assert.rejects(docker.volumes.remove(name), DockerNotFoundError);
});

Deno.test("Volumes.remove throws DockerConflictError for a volume a container uses, even forced", async () => {
  await using docker = testDocker();
  const name = uniqueName("inuse");
  await docker.volumes.create({ Name: name, Labels: { ...TEST_LABELS } });
  try {
    await withContainer(docker, { HostConfig: { Binds: [`${name}:/data`] } }, async () => {
      const error = await docker.volumes.remove(name).catch((e) => e);
      assert.ok(error instanceof DockerConflictError, String(error));
      assert.equal(error.status, 409);
      assert.match(error.engineMessage, /in use/);
      await assert.rejects(docker.volumes.remove(name, { force: true }), DockerConflictError);
    });
    // Once the container is gone, the volume can go.
    await docker.volumes.remove(name);
  } finally {
    await docker.volumes.remove(name, { force: true }).catch(() => {});
  }
});

Deno.test("Volumes.prune removes only unused volumes matching the label filter", async () => {
  await using docker = testDocker();
  const mark = uniqueName("prune");
  const target = uniqueName("prune-me");
  const kept = uniqueName("keep-me");
  const used = uniqueName("used");
  await docker.volumes.create({
    Name: target,
    Labels: { ...TEST_LABELS, "berth.test.prune": mark },
  });
  await docker.volumes.create({ Name: kept, Labels: { ...TEST_LABELS } });
  await docker.volumes.create({ Name: used, Labels: { ...TEST_LABELS, "berth.test.prune": mark } });
  try {
    await withContainer(docker, { HostConfig: { Binds: [`${used}:/data`] } }, async () => {
      const result = await docker.volumes.prune({
        filters: { label: [`berth.test.prune=${mark}`] },
      });
      assert.deepEqual(result.VolumesDeleted, [target]);
      assert.equal(typeof result.SpaceReclaimed, "number");
    });
    await assert.rejects(docker.volumes.inspect(target), DockerNotFoundError);
    assert.equal((await docker.volumes.inspect(kept)).Name, kept);
    assert.equal((await docker.volumes.inspect(used)).Name, used);

    const again = await docker.volumes.prune({
      filters: { label: [`berth.test.prune=${mark}-none`] },
    });
    assert.deepEqual(again.VolumesDeleted, [], "nothing pruned is an empty array, not null");
  } finally {
    for (const name of [target, kept, used]) {
      await docker.volumes.remove(name, { force: true }).catch(() => {});
    }
  }
});
