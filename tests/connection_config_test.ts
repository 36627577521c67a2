import assert from "node:assert/strict";
import { DockerConnectionError } from "../src/errors.ts";
import {
  dockerFromEnv,
  type ResolveDockerOptions,
  resolveDockerOptions,
} from "../src/connection_config.ts";

const CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n";

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A temporary docker configuration directory, removed at the end of the block. */
async function configDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "berth-cfg-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Writes a context the way `docker context create` stores it. */
async function writeContext(
  dir: string,
  name: string,
  docker: { Host?: string; SkipTLSVerify?: boolean },
  tls?: { ca?: string; cert?: string; key?: string },
): Promise<void> {
  const id = await sha256(name);
  const meta = `${dir}/contexts/meta/${id}`;
  await Deno.mkdir(meta, { recursive: true });
  await Deno.writeTextFile(
    `${meta}/meta.json`,
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker } }),
  );
  if (tls) {
    const tlsDir = `${dir}/contexts/tls/${id}/docker`;
    await Deno.mkdir(tlsDir, { recursive: true });
    if (tls.ca) await Deno.writeTextFile(`${tlsDir}/ca.pem`, tls.ca);
    if (tls.cert) await Deno.writeTextFile(`${tlsDir}/cert.pem`, tls.cert);
    if (tls.key) await Deno.writeTextFile(`${tlsDir}/key.pem`, tls.key);
  }
}

async function writeCerts(dir: string, files: { ca?: string; cert?: string; key?: string }) {
  await Deno.mkdir(dir, { recursive: true });
  if (files.ca) await Deno.writeTextFile(`${dir}/ca.pem`, files.ca);
  if (files.cert) await Deno.writeTextFile(`${dir}/cert.pem`, files.cert);
  if (files.key) await Deno.writeTextFile(`${dir}/key.pem`, files.key);
}

/** Resolves with only the given variables and a warning collector. */
async function resolve(env: Record<string, string>, extra: ResolveDockerOptions = {}) {
  const warnings: string[] = [];
  const resolved = await resolveDockerOptions({
    env,
    warn: (message) => warnings.push(message),
    ...extra,
  });
  return { resolved, warnings };
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

Deno.test("resolveDockerOptions prefers explicit host over DOCKER_HOST and contexts", async () => {
  await using config = await configDir();
  await writeContext(config.path, "remote", { Host: "unix:///ctx.sock" });
  const { resolved, warnings } = await resolve(
    { DOCKER_HOST: "unix:///env.sock", DOCKER_CONTEXT: "remote", DOCKER_CONFIG: config.path },
    { host: "unix:///explicit.sock", keepAliveTimeout: 5 },
  );
  assert.equal(resolved.host, "unix:///explicit.sock");
  assert.equal(resolved.source, "options");
  assert.equal(resolved.keepAliveTimeout, 5);
  assert.equal(resolved.tls, undefined);
  assert.deepEqual(warnings, []);
  assert.equal("env" in resolved, false);
  assert.equal("warn" in resolved, false);
});

Deno.test("resolveDockerOptions rejects host together with context", async () => {
  await assert.rejects(
    resolveDockerOptions({ host: "unix:///a.sock", context: "remote", env: {} }),
    TypeError,
  );
});

Deno.test("resolveDockerOptions takes DOCKER_HOST before DOCKER_CONTEXT and currentContext", async () => {
  await using config = await configDir();
  await writeContext(config.path, "remote", { Host: "unix:///ctx.sock" });
  await Deno.writeTextFile(
    `${config.path}/config.json`,
    JSON.stringify({ currentContext: "remote" }),
  );
  const { resolved } = await resolve({
    DOCKER_HOST: "unix:///env.sock",
    DOCKER_CONTEXT: "remote",
    DOCKER_CONFIG: config.path,
  });
  assert.equal(resolved.host, "unix:///env.sock");
  assert.equal(resolved.source, "DOCKER_HOST");
});

Deno.test("resolveDockerOptions reads DOCKER_TLS_VERIFY certificates from DOCKER_CERT_PATH", async () => {
  await using config = await configDir();
  await writeCerts(`${config.path}/certs`, { ca: CA, cert: CERT, key: KEY });
  const { resolved, warnings } = await resolve({
    DOCKER_HOST: "tcp://10.0.0.2:2376",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: `${config.path}/certs`,
  });
  assert.equal(resolved.host, "tcp://10.0.0.2:2376");
  assert.equal(resolved.source, "DOCKER_HOST");
  assert.deepEqual(resolved.tls, { caCerts: [CA], cert: CERT, key: KEY });
  assert.deepEqual(warnings, []);
});

Deno.test("resolveDockerOptions looks for DOCKER_TLS_VERIFY certificates in the config dir by default", async () => {
  await using config = await configDir();
  await writeCerts(config.path, { ca: CA });
  const { resolved } = await resolve({
    DOCKER_HOST: "tcp://10.0.0.2:2376",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CONFIG: config.path,
  });
  assert.deepEqual(resolved.tls, { caCerts: [CA] });
});

Deno.test("resolveDockerOptions fails when DOCKER_TLS_VERIFY has no ca.pem or half a key pair", async () => {
  await using config = await configDir();
  const missing = await rejection(resolve({
    DOCKER_HOST: "tcp://10.0.0.2:2376",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: `${config.path}/none`,
  }));
  assert.ok(missing instanceof DockerConnectionError);
  assert.match(missing.message, /ca\.pem does not exist/);
  await writeCerts(`${config.path}/half`, { ca: CA, cert: CERT });
  const half = await rejection(resolve({
    DOCKER_HOST: "tcp://10.0.0.2:2376",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: `${config.path}/half`,
  }));
  assert.ok(half instanceof DockerConnectionError);
  assert.match(half.message, /key\.pem does not exist/);
});

Deno.test("resolveDockerOptions warns loudly about tcp:// without TLS and never downgrades silently", async () => {
  await using config = await configDir();
  await writeCerts(`${config.path}/certs`, { ca: CA });
  const { resolved, warnings } = await resolve({
    DOCKER_HOST: "tcp://10.0.0.2:2375",
    DOCKER_CERT_PATH: `${config.path}/certs`,
  });
  assert.equal(resolved.tls, undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /WITHOUT TLS/);
  assert.match(warnings[0]!, /tcp:\/\/10\.0\.0\.2:2375/);
  assert.ok(resolved.notes.some((note) => /DOCKER_TLS_VERIFY is not/.test(note)));
  // Explicit TLS material switches the warning off.
  const explicit = await resolve({}, { host: "tcp://10.0.0.2:2376", tls: { caCerts: [CA] } });
  assert.deepEqual(explicit.warnings, []);
  assert.deepEqual(explicit.resolved.tls, { caCerts: [CA] });
  // DOCKER_TLS alone means TLS without verification: refused, not downgraded.
  const skip = await rejection(resolve({ DOCKER_HOST: "tcp://10.0.0.2:2376", DOCKER_TLS: "1" }));
  assert.ok(skip instanceof DockerConnectionError);
  assert.match(skip.message, /without certificate verification/);
});

Deno.test("resolveDockerOptions reads DOCKER_CONTEXT from the context store with its TLS material", async () => {
  await using config = await configDir();
  await writeContext(config.path, "remote", { Host: "tcp://10.0.0.3:2376" }, {
    ca: CA,
    cert: CERT,
    key: KEY,
  });
  const { resolved, warnings } = await resolve({
    DOCKER_CONTEXT: "remote",
    DOCKER_CONFIG: config.path,
  });
  assert.equal(resolved.host, "tcp://10.0.0.3:2376");
  assert.equal(resolved.source, "context remote");
  assert.deepEqual(resolved.tls, { caCerts: [CA], cert: CERT, key: KEY });
  assert.deepEqual(warnings, []);
});

Deno.test("resolveDockerOptions uses currentContext of config.json, DOCKER_CONTEXT winning", async () => {
  await using config = await configDir();
  await writeContext(config.path, "from-config", { Host: "unix:///config.sock" });
  await writeContext(config.path, "from-env", { Host: "unix:///env.sock" });
  await Deno.writeTextFile(
    `${config.path}/config.json`,
    JSON.stringify({ auths: {}, currentContext: "from-config" }),
  );
  const fromConfig = await resolve({ DOCKER_CONFIG: config.path });
  assert.equal(fromConfig.resolved.host, "unix:///config.sock");
  assert.equal(fromConfig.resolved.source, "context from-config");
  const fromEnv = await resolve({ DOCKER_CONFIG: config.path, DOCKER_CONTEXT: "from-env" });
  assert.equal(fromEnv.resolved.host, "unix:///env.sock");
  const explicit = await resolve(
    { DOCKER_CONFIG: config.path, DOCKER_HOST: "unix:///ignored.sock" },
    { context: "from-env" },
  );
  assert.equal(explicit.resolved.host, "unix:///env.sock");
  // HOME/.docker is the config dir when DOCKER_CONFIG is unset.
  await using home = await configDir();
  await writeContext(`${home.path}/.docker`, "home", { Host: "unix:///home.sock" });
  const fromHome = await resolve({ HOME: home.path, DOCKER_CONTEXT: "home" });
  assert.equal(fromHome.resolved.host, "unix:///home.sock");
});

Deno.test("resolveDockerOptions refuses SkipTLSVerify, unknown contexts and unknown schemes", async () => {
  await using config = await configDir();
  await writeContext(config.path, "insecure", {
    Host: "tcp://10.0.0.4:2376",
    SkipTLSVerify: true,
  });
  await writeContext(config.path, "over-npipe", { Host: "npipe:////./pipe/docker_engine" });
  const skip = await rejection(resolve({ DOCKER_CONTEXT: "insecure", DOCKER_CONFIG: config.path }));
  assert.ok(skip instanceof DockerConnectionError);
  assert.match(skip.message, /SkipTLSVerify .*Deno cannot/);
  const unknown = await rejection(resolve({ DOCKER_CONTEXT: "nope", DOCKER_CONFIG: config.path }));
  assert.ok(unknown instanceof DockerConnectionError);
  assert.match(unknown.message, /context "nope": it does not exist/);
  const npipe = await rejection(
    resolve({ DOCKER_CONTEXT: "over-npipe", DOCKER_CONFIG: config.path }),
  );
  assert.ok(npipe instanceof DockerConnectionError);
  assert.match(npipe.message, /npipe:.*unix:\/\/, tcp:\/\/, http:\/\/, https:\/\/ and ssh:\/\//);
});

Deno.test("resolveDockerOptions accepts ssh:// hosts from DOCKER_HOST and contexts, without TLS or warning", async () => {
  await using config = await configDir();
  await writeContext(config.path, "over-ssh", { Host: "ssh://user@10.0.0.5" });
  const fromContext = await resolve({ DOCKER_CONTEXT: "over-ssh", DOCKER_CONFIG: config.path });
  assert.equal(fromContext.resolved.host, "ssh://user@10.0.0.5");
  assert.equal(fromContext.resolved.source, "context over-ssh");
  assert.equal(fromContext.resolved.tls, undefined);
  assert.deepEqual(fromContext.warnings, []);
  // DOCKER_TLS_VERIFY applies to TCP hosts only, as with the docker CLI.
  const fromEnv = await resolve({
    DOCKER_HOST: "ssh://root@[::1]:2222",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: "/nonexistent",
  });
  assert.equal(fromEnv.resolved.host, "ssh://root@[::1]:2222");
  assert.equal(fromEnv.resolved.source, "DOCKER_HOST");
  assert.equal(fromEnv.resolved.tls, undefined);
  assert.deepEqual(fromEnv.warnings, []);
});

Deno.test("resolveDockerOptions treats a context without TLS material as plain TCP, with a warning", async () => {
  await using config = await configDir();
  await writeContext(config.path, "plain", { Host: "tcp://10.0.0.6:2375" });
  const { resolved, warnings } = await resolve({
    DOCKER_CONTEXT: "plain",
    DOCKER_CONFIG: config.path,
  });
  assert.equal(resolved.tls, undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /context plain/);
});

Deno.test("resolveDockerOptions falls back to the default context's first existing socket", async () => {
  const bare = await resolve({});
  assert.equal(bare.resolved.host, "unix:///var/run/docker.sock");
  assert.equal(bare.resolved.source, "default");
  await using runtime = await configDir();
  const path = `${runtime.path}/docker.sock`;
  using listener = Deno.listen({ transport: "unix", path });
  const rootless = await resolve({ XDG_RUNTIME_DIR: runtime.path });
  assert.equal(rootless.resolved.host, `unix://${path}`);
  assert.equal(rootless.resolved.source, "default");
  assert.equal(listener.addr.transport, "unix");
  // An explicit "default" context ignores DOCKER_HOST, like `docker --context default`.
  const explicit = await resolve({ DOCKER_HOST: "unix:///x.sock" }, { context: "default" });
  assert.equal(explicit.resolved.source, "default");
});

Deno.test("resolveDockerOptions honours DOCKER_API_VERSION unless apiVersion is given", async () => {
  const { resolved } = await resolve({ DOCKER_HOST: "unix:///a.sock", DOCKER_API_VERSION: "1.40" });
  assert.equal(resolved.apiVersion, "1.40");
  const explicit = await resolve({ DOCKER_API_VERSION: "1.40" }, { apiVersion: "1.39" });
  assert.equal(explicit.resolved.apiVersion, "1.39");
  await assert.rejects(resolve({ DOCKER_API_VERSION: "latest" }), TypeError);
});

Deno.test("resolveDockerOptions skips what Deno may not read, without prompting, and says which flag to add", async () => {
  await using dir = await configDir();
  const script = `${dir.path}/resolve.ts`;
  const url = new URL("../src/connection_config.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { resolveDockerOptions } from ${JSON.stringify(url)};
    const r = await resolveDockerOptions({ warn: () => {} });
    console.log(JSON.stringify({ host: r.host, source: r.source, notes: r.notes, flags: r.flags }));`,
  );
  // No permission flags at all: every variable and file is off limits.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-check", "--no-config", script],
    env: { DOCKER_HOST: "tcp://10.9.9.9:2375", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  // DOCKER_HOST was not readable: the default socket, and notes with the flags.
  assert.equal(result.host, "unix:///var/run/docker.sock");
  assert.equal(result.source, "default");
  const notes = result.notes.join("\n");
  assert.match(notes, /--allow-env=DOCKER_HOST/);
  assert.match(notes, /--allow-read=\/var\/run\/docker\.sock/);
  assert.equal(result.flags.length, 2);
  assert.match(result.flags[0], /^--allow-env=DOCKER_HOST,DOCKER_CONTEXT,.*HOME/);
  assert.equal(result.flags[1], "--allow-read=/var/run/docker.sock");
});

/** Runs `resolveDockerOptions()` in a child Deno with `flags` and `env`; its result or error. */
async function resolveIn(
  dir: string,
  flags: string[],
  env: Record<string, string>,
): Promise<{ host?: string; source?: string; error?: string }> {
  const script = `${dir}/resolve_in.ts`;
  const url = new URL("../src/connection_config.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { resolveDockerOptions } from ${JSON.stringify(url)};
    try {
      const r = await resolveDockerOptions({ warn: () => {} });
      console.log(JSON.stringify({ host: r.host, source: r.source }));
    } catch (error) {
      console.log(JSON.stringify({ error: error.message }));
    }`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-check", "--no-config", ...flags, script],
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("resolveDockerOptions reads the config dir from DOCKER_CONFIG alone, and names the variables it may not read", async () => {
  await using config = await configDir();
  await writeContext(config.path, "from-config", { Host: "unix:///config.sock" });
  await Deno.writeTextFile(
    `${config.path}/config.json`,
    JSON.stringify({ currentContext: "from-config" }),
  );
  const env = {
    DOCKER_CONFIG: config.path,
    DOCKER_CONTEXT: "from-config",
    HOME: "/nonexistent",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const read = `--allow-read=${config.path}`;
  // DOCKER_CONFIG readable, HOME not: the docker CLI needs no HOME then, nor does berth.
  const { DOCKER_CONTEXT: _, ...withoutContext } = env;
  assert.deepEqual(
    await resolveIn(config.path, ["--allow-env=DOCKER_CONFIG", read], withoutContext),
    {
      host: "unix:///config.sock",
      source: "context from-config",
    },
  );
  // A context named, but the config dir's variables not readable: say which.
  const denied = await resolveIn(config.path, ["--allow-env=DOCKER_CONTEXT", read], env);
  assert.equal(
    denied.error,
    'Cannot use Docker context "from-config": the configuration directory is unknown (Deno may not read DOCKER_CONFIG or HOME: run with --allow-env=DOCKER_CONFIG,HOME, or pass configDir)',
  );
  const noHome = await resolveIn(
    config.path,
    ["--allow-env=DOCKER_CONTEXT,DOCKER_CONFIG", read],
    { ...env, DOCKER_CONFIG: "" },
  );
  assert.match(noHome.error ?? "", /Deno may not read HOME: run with --allow-env=HOME,/);
});

Deno.test("dockerFromEnv names the source, candidates and missing permissions when it cannot connect", async () => {
  await using config = await configDir();
  const error = await rejection(dockerFromEnv({
    env: { DOCKER_HOST: `unix://${config.path}/missing.sock` },
    warn: () => {},
  }));
  assert.ok(error instanceof DockerConnectionError);
  assert.match(error.message, /missing\.sock/);
  assert.match(error.message, /host from DOCKER_HOST/);
  assert.equal(error.message.includes("Not checked"), false);
  const fallback = await rejection(dockerFromEnv({
    env: { XDG_RUNTIME_DIR: config.path, HOME: config.path },
    warn: () => {},
    apiVersion: "1.41",
  }));
  assert.ok(fallback instanceof DockerConnectionError);
  assert.match(
    fallback.message,
    /host from default; other candidates, not found or not checked: .*docker\.sock/,
  );
});

Deno.test("dockerFromEnv without check returns an unconnected client", async () => {
  await using docker = await dockerFromEnv({
    env: { DOCKER_HOST: "unix:///nowhere/docker.sock" },
    check: false,
  });
  assert.equal(docker.host, "unix:///nowhere/docker.sock");
});
