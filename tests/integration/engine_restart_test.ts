/**
 * A real engine killed and restarted under a client: the failure modes the
 * fake engine covers byte by byte, checked once against dockerd itself.
 *
 * The test starts an engine of its own (it kills it with SIGKILL), so it
 * needs root and dockerd, as the test task's private engine does. It runs
 * wherever those are (CI always has them); elsewhere it is ignored unless
 * an engine is required, in which case it fails. Measured: the stream fails
 * with `DockerProtocolError` "GET /v1.41/containers/…/logs?…: engine closed
 * the connection inside a chunked body" after some 2,200 whole frames; the
 * POST after the restart is replayed (its first write failed with EPIPE).
 */

import assert from "node:assert/strict";
import { Docker, type DockerCallEvent, DockerError, type Frame } from "../../mod.ts";
import {
  ensureTestImage,
  findExecutable,
  isRoot,
  removeEngineDir,
  startPrivateEngine,
} from "../../tools/_engine.ts";
import { engineRequired } from "./_env.ts";
import { TEST_LABELS, text } from "./_docker.ts";

const canStartEngine = isRoot() && await findExecutable("dockerd") !== undefined;

/**
 * Kills the processes of a container by its cgroup. A container whose engine
 * was SIGKILLed and whose containerd was stopped keeps running, orphaned;
 * removing it from the restarted engine does not stop it.
 */
function killContainerProcesses(id: string): void {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/cgroup`).includes(id)) {
        Deno.kill(Number(entry.name), "SIGKILL");
      }
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
}

/** The pid dockerd wrote in the engine directory. */
async function dockerdPid(dir: string): Promise<number> {
  return Number((await Deno.readTextFile(`${dir}/dockerd.pid`)).trim());
}

Deno.test({
  name:
    "engine killed mid-stream: logs fail with a DockerError after whole frames; after a restart the pooled client works again",
  ignore: !canStartEngine && !engineRequired(),
  fn: async () => {
    // Short: dockerd's and containerd's socket paths must fit 107 bytes.
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "bk-" });
    let engine = await startPrivateEngine(dir);
    let id: string | undefined;
    try {
      const image = await ensureTestImage(engine.host);
      const calls: DockerCallEvent[] = [];
      await using docker = new Docker({
        host: engine.host,
        observer: (call) => calls.push(call),
      });
      // Writes numbered lines as fast as it can, and stops when a write
      // fails (its engine gone) or after ten million lines.
      ({ Id: id } = await docker.containers.create({
        Image: image,
        Cmd: ["sh", "-c", "i=1; while [ $i -le 10000000 ] && echo line-$i; do i=$((i+1)); done"],
        Labels: { ...TEST_LABELS },
      }));
      await docker.containers.start(id);

      // Follow the output until plenty has come, with a pooled idle
      // connection left behind by an ordinary call.
      const frames: Frame[] = [];
      const reader = docker.containers.logs(id, { follow: true, stdout: true, tty: false })
        .getReader();
      while (frames.length < 2000) {
        const { done, value } = await reader.read();
        assert.ok(!done, "the log stream ended before the engine was killed");
        frames.push(value);
      }
      assert.equal(await docker.system.ping(), "OK");

      Deno.kill(await dockerdPid(dir), "SIGKILL");
      let failure: unknown;
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          frames.push(value);
        }
      } catch (error) {
        failure = error;
      }
      assert.ok(failure instanceof DockerError, `expected a DockerError, got ${failure}`);
      // Every frame delivered is whole: one line each, counting up from 1.
      for (let i = 0; i < frames.length; i++) {
        assert.equal(frames[i]!.stream, "stdout");
        assert.equal(text(frames[i]!.data), `line-${i + 1}\n`, `frame ${i}`);
      }

      // The killed dockerd's containerd and shims are still running: stop
      // them (as a host's service manager would), then start the engine
      // again on the same directory and socket. The client's idle pooled
      // connection is now stale.
      await engine.stop();
      // Orphaned by the SIGKILL, that containerd was re-parented to PID 1,
      // which on some VMs (this project's CI) does not reap it: dockerd would
      // find its pid in this file, take the zombie for a live containerd and
      // wait for it forever. A host's init reaps it; here the file goes.
      await Deno.remove(`${dir}/exec/containerd/containerd.pid`).catch(() => {});
      engine = await startPrivateEngine(dir);
      // The first call is a POST, on the stale pooled connection: its write
      // fails at once (EPIPE) with not a byte sent, so the engine never saw
      // it and it goes again on a new connection.
      const before = calls.length;
      await docker.containers.create({ Image: image, Cmd: ["true"], Labels: { ...TEST_LABELS } });
      const create = calls.slice(before).find((call) => call.method === "POST");
      assert.ok(create && create.status === 201, JSON.stringify(create));
      assert.equal(create.reusedConnection, false, "created on a new connection");
      assert.equal(await docker.system.ping(), "OK");
      const listed = await docker.containers.list({ all: true, filters: { id: [id] } });
      assert.equal(listed.length, 1);
    } finally {
      await engine.stop();
      if (id) killContainerProcesses(id);
      await removeEngineDir(dir);
    }
  },
});
