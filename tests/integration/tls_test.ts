/**
 * TLS for real: a private dockerd listening on `tcp://127.0.0.1:<port>`
 * with `--tlsverify`, certificates made with `openssl` for this run, and
 * berth connecting with good, wrong and missing material, directly and
 * through `DOCKER_HOST`/`DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` and a
 * context, and a BuildKit build whose session (HTTP/2) runs over TLS. Needs root, dockerd and openssl: under the test task or in CI
 * their absence fails the test; elsewhere it is skipped.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Docker, DockerConnectionError } from "../../mod.ts";
import { dockerFromEnv, resolveDockerOptions } from "../../src/connection_config.ts";
import { findExecutable, pingEngine, removeEngineDir } from "../../tools/_engine.ts";
import { engineRequired } from "./_env.ts";

const dockerd = await findExecutable("dockerd");
const openssl = await findExecutable("openssl");
const missing = [
  Deno.uid() !== 0 ? "root" : "",
  dockerd ? "" : "dockerd",
  openssl ? "" : "openssl",
].filter(Boolean);

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const output = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  if (!output.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
}

/** A CA, a server certificate for 127.0.0.1, a client certificate and an unrelated CA. */
async function makeCertificates(dir: string): Promise<void> {
  const ssl = (...args: string[]) => run(openssl!, args, dir);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "wrong-ca"]) {
    await ssl(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${ca}-key.pem`,
      "-out",
      `${ca}.pem`,
      "-days",
      "1",
      "-subj",
      `/CN=berth test ${ca}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
  }
  const leaves = {
    server: "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    client: "extendedKeyUsage=clientAuth\n",
  };
  for (const [leaf, extensions] of Object.entries(leaves)) {
    await Deno.writeTextFile(join(dir, `${leaf}.ext`), extensions);
    await ssl(
      "req",
      ...ec,
      "-keyout",
      `${leaf}-key.pem`,
      "-out",
      `${leaf}.csr`,
      "-subj",
      `/CN=${leaf}`,
    );
    await ssl(
      "x509",
      "-req",
      "-in",
      `${leaf}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-CAcreateserial",
      "-out",
      `${leaf}-cert.pem`,
      "-days",
      "1",
      "-extfile",
      `${leaf}.ext`,
    );
  }
  // A DOCKER_CERT_PATH directory, as `docker` expects it.
  await Deno.mkdir(join(dir, "client"));
  await Deno.copyFile(join(dir, "ca.pem"), join(dir, "client", "ca.pem"));
  await Deno.copyFile(join(dir, "client-cert.pem"), join(dir, "client", "cert.pem"));
  await Deno.copyFile(join(dir, "client-key.pem"), join(dir, "client", "key.pem"));
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/** Sets process variables for the block, restoring the old values after. */
function withEnv(values: Record<string, string | undefined>): Disposable {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, Deno.env.get(name)]));
  const apply = (from: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(from)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  };
  apply(values);
  return { [Symbol.dispose]: () => apply(saved) };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail("expected a rejection");
}

Deno.test({
  name: "TLS: berth talks to a --tlsverify engine with good material and refuses bad material",
  ignore: missing.length > 0 && !engineRequired(),
  async fn(t) {
    if (missing.length > 0) {
      throw new Error(`The TLS test needs ${missing.join(", ")}; this run requires an engine`);
    }
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "btls" });
    let child: Deno.ChildProcess | undefined;
    try {
      await makeCertificates(dir);
      await Deno.writeTextFile(join(dir, "daemon.json"), "{}\n");
      const port = freePort();
      const tcp = `tcp://127.0.0.1:${port}`;
      const unix = `unix://${dir}/docker.sock`;
      child = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null',
          "sh",
          join(dir, "dockerd.log"),
          dockerd!,
          "--config-file",
          join(dir, "daemon.json"),
          "--host",
          unix,
          "--host",
          tcp,
          "--tlsverify",
          "--tlscacert",
          join(dir, "ca.pem"),
          "--tlscert",
          join(dir, "server-cert.pem"),
          "--tlskey",
          join(dir, "server-key.pem"),
          "--data-root",
          join(dir, "data"),
          "--exec-root",
          join(dir, "exec"),
          "--pidfile",
          join(dir, "dockerd.pid"),
          "--bridge",
          "none",
          "--iptables=false",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let exited = false;
      child.status.then(() => exited = true);
      const deadline = Date.now() + 30_000;
      while (!await pingEngine(unix, 1000)) {
        if (exited || Date.now() > deadline) {
          const log = await Deno.readTextFile(join(dir, "dockerd.log")).catch(() => "");
          throw new Error(
            `The TLS engine did not start:\n${log.split("\n").slice(-20).join("\n")}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const pem = (name: string) => Deno.readTextFileSync(join(dir, name));
      const ca = pem("ca.pem");
      const cert = pem("client-cert.pem");
      const key = pem("client-key.pem");

      await t.step("good CA and client certificate: ping and version", async () => {
        await using docker = new Docker({ host: tcp, tls: { caCerts: [ca], cert, key } });
        assert.equal(docker.host, `https://127.0.0.1:${port}`);
        assert.equal(await docker.system.ping(), "OK");
        const version = await docker.system.version();
        assert.equal(version.ApiVersion, "1.41");
        assert.equal(await docker.apiVersion(), "1.41");
      });

      await t.step("a BuildKit build's session (HTTP/2, its context) over TLS", async () => {
        await using docker = new Docker({ host: tcp, tls: { caCerts: [ca], cert, key } });
        const context = join(dir, "build");
        await Deno.mkdir(context);
        await Deno.writeTextFile(join(context, "Dockerfile"), "FROM scratch\nCOPY data.bin /\n");
        const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 13) % 251);
        await Deno.writeFile(join(context, "data.bin"), data);
        const { imageId } = await docker.images.build(context, {
          version: "2",
          networkMode: "none",
        });
        // Never started (a scratch image has nothing to run): only read.
        const { Id } = await docker.containers.create({ Image: imageId, Cmd: ["none"] });
        try {
          const { body } = await docker.containers.getArchive(Id, "/data.bin");
          const archive = new Uint8Array(await new Response(body).arrayBuffer());
          // One 512-byte header, then the file.
          assert.deepEqual(archive.subarray(512, 512 + data.length), data);
        } finally {
          await docker.containers.remove(Id, { force: true });
          await docker.images.remove(imageId, { force: true });
        }
      });

      await t.step("a CA that did not sign the server: DockerConnectionError", async () => {
        await using docker = new Docker({
          host: tcp,
          tls: { caCerts: [pem("wrong-ca.pem")], cert, key },
          connectTimeout: 10_000,
        });
        const error = await rejection(docker.system.ping());
        assert.ok(error instanceof DockerConnectionError, String(error));
        assert.match(error.message, /127\.0\.0\.1/);
      });

      await t.step("no client certificate against --tlsverify: DockerConnectionError", async () => {
        await using docker = new Docker({
          host: tcp,
          tls: { caCerts: [ca] },
          connectTimeout: 10_000,
        });
        const error = await rejection(docker.system.ping());
        assert.ok(error instanceof DockerConnectionError, String(error));
      });

      await t.step("DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, end to end", async () => {
        using _env = withEnv({
          DOCKER_HOST: tcp,
          DOCKER_TLS_VERIFY: "1",
          DOCKER_CERT_PATH: join(dir, "client"),
          DOCKER_CONTEXT: undefined,
          DOCKER_API_VERSION: undefined,
        });
        const warnings: string[] = [];
        const resolved = await resolveDockerOptions({ warn: (m) => warnings.push(m) });
        assert.equal(resolved.source, "DOCKER_HOST");
        assert.equal(resolved.host, tcp);
        assert.deepEqual(warnings, []);
        await using docker = await dockerFromEnv();
        assert.equal(await docker.system.ping(), "OK");
        assert.equal((await docker.system.version()).ApiVersion, "1.41");
      });

      await t.step(
        "DOCKER_CERT_PATH with the wrong CA: dockerFromEnv names the source",
        async () => {
          const wrong = join(dir, "wrong");
          await Deno.mkdir(wrong);
          await Deno.copyFile(join(dir, "wrong-ca.pem"), join(wrong, "ca.pem"));
          await Deno.copyFile(join(dir, "client-cert.pem"), join(wrong, "cert.pem"));
          await Deno.copyFile(join(dir, "client-key.pem"), join(wrong, "key.pem"));
          using _env = withEnv({
            DOCKER_HOST: tcp,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: wrong,
          });
          const error = await rejection(dockerFromEnv({ connectTimeout: 10_000 }));
          assert.ok(error instanceof DockerConnectionError, String(error));
          assert.match(error.message, /host from DOCKER_HOST/);
        },
      );

      await t.step("a context with TLS material from the context store", async () => {
        const config = join(dir, "config");
        const digest = await crypto.subtle.digest(
          "SHA-256",
          new TextEncoder().encode("berth-tls"),
        );
        const id = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"))
          .join("");
        await Deno.mkdir(join(config, "contexts", "meta", id), { recursive: true });
        await Deno.writeTextFile(
          join(config, "contexts", "meta", id, "meta.json"),
          JSON.stringify({
            Name: "berth-tls",
            Metadata: {},
            Endpoints: { docker: { Host: tcp, SkipTLSVerify: false } },
          }),
        );
        const tlsDir = join(config, "contexts", "tls", id, "docker");
        await Deno.mkdir(tlsDir, { recursive: true });
        for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
          await Deno.copyFile(join(dir, "client", file), join(tlsDir, file));
        }
        await Deno.writeTextFile(
          join(config, "config.json"),
          JSON.stringify({ currentContext: "berth-tls" }),
        );
        using _env = withEnv({
          DOCKER_HOST: undefined,
          DOCKER_CONTEXT: undefined,
          DOCKER_CONFIG: config,
        });
        const resolved = await resolveDockerOptions();
        assert.equal(resolved.source, "context berth-tls");
        await using docker = await dockerFromEnv();
        assert.equal(await docker.system.ping(), "OK");
      });
    } finally {
      // Stops the dockerd (and its containerd) started here, unmounts and deletes the directory.
      await removeEngineDir(dir);
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        await child.status;
      }
    }
  },
});
