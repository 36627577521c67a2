/**
 * Unit tests of `src/auth.ts`: header encoding, reference parsing, registry
 * keys, and the credential store over generated Docker configs and fake
 * credential helpers (shell scripts on a temporary PATH).
 */

import assert from "node:assert/strict";
import {
  authSecrets,
  CredentialStore,
  DOCKER_HUB_KEY,
  encodeAuthHeader,
  encodeRegistryConfig,
  parseImageReference,
  type RegistryAuth,
  registryKey,
  registryOfImage,
  resolveCredentials,
  scrubSecrets,
} from "../src/auth.ts";
import { DockerError, DockerNotFoundError, DockerStreamError } from "../src/errors.ts";

const PASSWORD = "pa55w0rd-«secret»?>>~";

/** Decodes a base64url (padded) header back to its JSON. */
function decodeHeader(value: string): unknown {
  assert.match(value, /^[A-Za-z0-9_-]*={0,2}$/);
  assert.equal(value.length % 4, 0, "padded");
  const binary = atob(value.replaceAll("-", "+").replaceAll("_", "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

/** Every way a value could be shown to a user. */
function shown(value: unknown): string {
  return [
    String(value),
    `${value}`,
    Deno.inspect(value, { depth: 10, showHidden: true }),
    Deno.inspect([value], { depth: 10 }),
  ].join("\n");
}

/** A temp dir with a config.json, removed by `Symbol.asyncDispose`. */
async function tempConfig(
  config: unknown,
): Promise<{ dir: string; path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "berth-auth-" });
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, typeof config === "string" ? config : JSON.stringify(config));
  return { dir, path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/**
 * Installs fake `docker-credential-<name>` scripts in a temp dir put first
 * on PATH; restores PATH on dispose.
 */
async function fakeHelpers(scripts: Record<string, string>): Promise<AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "berth-helpers-" });
  for (const [name, body] of Object.entries(scripts)) {
    const path = `${dir}/docker-credential-${name}`;
    await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(path, 0o755);
  }
  const oldPath = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${dir}:${oldPath}`);
  return {
    [Symbol.asyncDispose]: async () => {
      Deno.env.set("PATH", oldPath);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A helper answering for one server URL, with a call log. */
function helperScript(server: string, username: string, secret: string, log?: string): string {
  return [
    "read -r server",
    log ? `echo "$1 $server" >> '${log}'` : "",
    'case "$1" in',
    `get) if [ "$server" = '${server}' ]; then printf '{"ServerURL":"%s","Username":"${username}","Secret":"${secret}"}' "$server"; else echo "credentials not found in native keychain"; exit 1; fi ;;`,
    `list) printf '{"${server}":"${username}"}' ;;`,
    "*) exit 2 ;;",
    "esac",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

Deno.test("encodeAuthHeader writes padded base64url JSON of the known fields only", () => {
  assert.equal(encodeAuthHeader({}), "e30=");
  // "?>>" and "~" make "+" and "/" in standard base64: they must become "-" and "_".
  const auth = {
    username: "me",
    password: PASSWORD,
    serveraddress: "127.0.0.1:5000",
    extra: "dropped",
  } as RegistryAuth;
  const header = encodeAuthHeader(auth);
  assert.ok(!header.includes("+") && !header.includes("/"));
  assert.deepEqual(decodeHeader(header), {
    username: "me",
    password: PASSWORD,
    serveraddress: "127.0.0.1:5000",
  });
  assert.deepEqual(decodeHeader(encodeAuthHeader({ identitytoken: "tok", serveraddress: "h" })), {
    serveraddress: "h",
    identitytoken: "tok",
  });
});

Deno.test("encodeAuthHeader rejects what is not credentials", () => {
  assert.throws(() => encodeAuthHeader(null as unknown as RegistryAuth), TypeError);
  assert.throws(() => encodeAuthHeader("me:pw" as unknown as RegistryAuth), TypeError);
  assert.throws(() => encodeAuthHeader({ password: 1 } as unknown as RegistryAuth), TypeError);
});

Deno.test("encodeRegistryConfig maps registries to credentials in base64url JSON", () => {
  const header = encodeRegistryConfig({
    [DOCKER_HUB_KEY]: { username: "hub", password: PASSWORD },
    "127.0.0.1:5000": { identitytoken: "tok" },
  });
  assert.deepEqual(decodeHeader(header), {
    [DOCKER_HUB_KEY]: { username: "hub", password: PASSWORD },
    "127.0.0.1:5000": { identitytoken: "tok" },
  });
  assert.equal(encodeRegistryConfig({}), "e30=");
  assert.throws(() => encodeRegistryConfig({ x: 3 as unknown as RegistryAuth }), TypeError);
});

Deno.test("authSecrets lists the secret and its base64 forms", () => {
  const secrets = authSecrets({ username: "me", password: PASSWORD });
  assert.ok(secrets.includes(PASSWORD));
  const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`me:${PASSWORD}`)));
  assert.ok(secrets.includes(basic));
  assert.ok(secrets.includes(encodeAuthHeader({ username: "me", password: PASSWORD })));
  assert.deepEqual(authSecrets(undefined), []);
});

// ---------------------------------------------------------------------------
// References and keys
// ---------------------------------------------------------------------------

Deno.test("parseImageReference splits registry, repository, tag and digest", () => {
  const digest = `sha256:${"a".repeat(64)}`;
  const cases: Array<[string, ReturnType<typeof parseImageReference>]> = [
    ["busybox", { domain: undefined, repository: "busybox", tag: undefined, digest: undefined }],
    ["busybox:1.36", { domain: undefined, repository: "busybox", tag: "1.36", digest: undefined }],
    ["me/app:v1", { domain: undefined, repository: "me/app", tag: "v1", digest: undefined }],
    ["localhost/app", {
      domain: "localhost",
      repository: "localhost/app",
      tag: undefined,
      digest: undefined,
    }],
    [
      "127.0.0.1:5000/team/app",
      {
        domain: "127.0.0.1:5000",
        repository: "127.0.0.1:5000/team/app",
        tag: undefined,
        digest: undefined,
      },
    ],
    [
      "127.0.0.1:5000/team/app:2",
      {
        domain: "127.0.0.1:5000",
        repository: "127.0.0.1:5000/team/app",
        tag: "2",
        digest: undefined,
      },
    ],
    [`ghcr.io/a/b@${digest}`, {
      domain: "ghcr.io",
      repository: "ghcr.io/a/b",
      tag: undefined,
      digest,
    }],
    [`ghcr.io/a/b:1@${digest}`, { domain: "ghcr.io", repository: "ghcr.io/a/b", tag: "1", digest }],
  ];
  for (const [ref, expected] of cases) assert.deepEqual(parseImageReference(ref), expected, ref);
  for (const bad of ["", " ", "app:", "app@", "/app", "a//b", ":1"]) {
    assert.throws(() => parseImageReference(bad), TypeError, bad);
  }
});

Deno.test("registryOfImage names Docker Hub docker.io whatever alias the reference uses", () => {
  for (
    const ref of [
      "busybox",
      "library/busybox:1",
      "docker.io/library/busybox",
      "index.docker.io/me/x",
      "registry-1.docker.io/me/x:2",
      "Docker.IO/me/x",
    ]
  ) {
    assert.equal(registryOfImage(ref), "docker.io", ref);
  }
  assert.equal(registryOfImage("localhost:5000/x"), "localhost:5000");
  assert.equal(registryOfImage("Registry.Example.com/x"), "registry.example.com");
});

Deno.test("registryKey maps Hub aliases to the Hub key and strips schemes and paths", () => {
  for (
    const address of [
      "docker.io",
      "index.docker.io",
      "registry-1.docker.io",
      DOCKER_HUB_KEY,
      "https://index.docker.io/v2/",
    ]
  ) {
    assert.equal(registryKey(address), DOCKER_HUB_KEY, address);
  }
  assert.equal(registryKey("https://r.example.com:5000/v2/"), "r.example.com:5000");
  assert.equal(registryKey("http://r.example.com"), "r.example.com");
  assert.equal(registryKey("r.example.com:5000"), "r.example.com:5000");
  assert.throws(() => registryKey(""), TypeError);
});

// ---------------------------------------------------------------------------
// Static store
// ---------------------------------------------------------------------------

Deno.test("CredentialStore.from finds credentials by any form of the registry address", async () => {
  const store = CredentialStore.from({
    "https://index.docker.io/v1/": { username: "hub", password: PASSWORD },
    "https://r.example.com:5000/v2/": { identitytoken: "tok-123456" },
  });
  assert.equal((await store.forImage("busybox"))?.username, "hub");
  assert.equal((await store.get("registry-1.docker.io"))?.password, PASSWORD);
  const other = await store.forImage("r.example.com:5000/team/app:1");
  assert.equal(other?.identitytoken, "tok-123456");
  assert.equal(other?.serveraddress, "r.example.com:5000");
  assert.equal(await store.get("elsewhere.example.com"), undefined);
  assert.deepEqual(Object.keys(await store.all()).sort(), [DOCKER_HUB_KEY, "r.example.com:5000"]);
  assert.throws(() => CredentialStore.from({ "": {} }), TypeError);
  assert.throws(
    () => CredentialStore.from(null as unknown as Record<string, RegistryAuth>),
    TypeError,
  );
});

Deno.test("CredentialStore and its credentials never print secrets", async () => {
  const store = CredentialStore.from({ "r.example.com": { username: "me", password: PASSWORD } });
  const auth = await store.get("r.example.com");
  assert.ok(auth);
  for (const value of [store, auth, await store.all()]) {
    const text = shown(value);
    assert.ok(!text.includes(PASSWORD), text);
    assert.ok(!text.includes(btoa("me:pa55")), text);
  }
  assert.match(String(auth), /password: <redacted>/);
  assert.match(Deno.inspect(auth), /username: "me"/);
  // The fields are still ordinary properties.
  assert.equal(auth.password, PASSWORD);
  assert.equal({ ...auth }.password, PASSWORD);
});

Deno.test("resolveCredentials maps the client option to a store", () => {
  const store = CredentialStore.from({});
  assert.equal(resolveCredentials(store), store);
  assert.equal(resolveCredentials(false), undefined);
  assert.equal(resolveCredentials(undefined), undefined);
  assert.ok(resolveCredentials("docker-config") instanceof CredentialStore);
  assert.throws(() => resolveCredentials("yes" as "docker-config"), TypeError);
});

// ---------------------------------------------------------------------------
// Docker config
// ---------------------------------------------------------------------------

Deno.test("CredentialStore.fromDockerConfig reads auths like the docker CLI", async () => {
  await using config = await tempConfig({
    auths: {
      "https://index.docker.io/v1/": { auth: btoa(`hub:${"x:y"}`) },
      "https://r.example.com:5000/v2/": { username: "u2", password: "p2" },
      "tok.example.com": { identitytoken: "refresh-token" },
      "empty.example.com": {},
    },
  });
  const store = CredentialStore.fromDockerConfig(config.path);
  const hub = await store.forImage("busybox:latest");
  assert.equal(hub?.username, "hub");
  assert.equal(hub?.password, "x:y", "the password keeps its colons");
  assert.equal(hub?.serveraddress, DOCKER_HUB_KEY);
  assert.equal((await store.get("index.docker.io"))?.username, "hub");
  const scheme = await store.forImage("r.example.com:5000/app");
  assert.deepEqual({ ...scheme }, {
    username: "u2",
    password: "p2",
    serveraddress: "r.example.com:5000",
  });
  assert.equal((await store.get("tok.example.com"))?.identitytoken, "refresh-token");
  assert.equal(await store.get("empty.example.com"), undefined);
  assert.equal(await store.get("unknown.example.com"), undefined);
  assert.deepEqual(Object.keys(await store.all()).sort(), [
    DOCKER_HUB_KEY,
    "r.example.com:5000",
    "tok.example.com",
  ]);
});

Deno.test("CredentialStore.fromDockerConfig: a missing file means no credentials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = CredentialStore.fromDockerConfig(`${dir}/nope/config.json`);
    assert.equal(await store.get("docker.io"), undefined);
    assert.deepEqual(await store.all(), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CredentialStore.fromDockerConfig uses DOCKER_CONFIG", async () => {
  await using config = await tempConfig({
    auths: { "r.example.com": { username: "env", password: "pw" } },
  });
  const old = Deno.env.get("DOCKER_CONFIG");
  Deno.env.set("DOCKER_CONFIG", config.dir);
  try {
    assert.equal((await CredentialStore.fromDockerConfig().get("r.example.com"))?.username, "env");
  } finally {
    if (old === undefined) Deno.env.delete("DOCKER_CONFIG");
    else Deno.env.set("DOCKER_CONFIG", old);
  }
});

Deno.test("CredentialStore.fromDockerConfig reports a malformed config without its content", async (t) => {
  const cases: Record<string, string> = {
    "not JSON": `{"auths": {"r.example.com": {"auth": "${btoa(`me:${PASSWORD}`)}"`,
    "bad base64": JSON.stringify({ auths: { "r.example.com": { auth: `!!${PASSWORD}` } } }),
    "no colon": JSON.stringify({ auths: { "r.example.com": { auth: btoa("mepassword") } } }),
    "not an object": JSON.stringify([PASSWORD]),
  };
  for (const [name, text] of Object.entries(cases)) {
    await t.step(name, async () => {
      await using config = await tempConfig(text);
      const error = await CredentialStore.fromDockerConfig(config.path).get("r.example.com").then(
        () => assert.fail("expected a DockerError"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof DockerError);
      assert.ok(error.message.includes(config.path), error.message);
      const text2 = [error.message, error.stack, Deno.inspect(error), String(error.cause)].join();
      assert.ok(!text2.includes(PASSWORD) && !text2.includes(btoa(`me:${PASSWORD}`)), text2);
      assert.ok(!text2.includes("mepassword"));
    });
  }
});

Deno.test("CredentialStore runs credHelpers, then credsStore, then auths", async () => {
  const logDir = await Deno.makeTempDir();
  const log = `${logDir}/calls.log`;
  await using _helpers = await fakeHelpers({
    "berth-one": helperScript("one.example.com", "helper-user", "helper-secret", log),
    "berth-store": helperScript("stored.example.com", "<token>", "identity-xyz", log),
  });
  await using config = await tempConfig({
    auths: {
      "one.example.com": { username: "file", password: "file-pw" },
      "fallback.example.com": { username: "file2", password: "file2-pw" },
    },
    credHelpers: { "one.example.com": "berth-one" },
    credsStore: "berth-store",
  });
  try {
    const store = CredentialStore.fromDockerConfig(config.path);
    const one = await store.forImage("one.example.com/app:1");
    assert.deepEqual({ ...one }, {
      username: "helper-user",
      password: "helper-secret",
      serveraddress: "one.example.com",
    });
    const stored = await store.get("stored.example.com");
    assert.deepEqual({ ...stored }, {
      identitytoken: "identity-xyz",
      serveraddress: "stored.example.com",
    });
    // The store knows nothing of it: the auths entry is used.
    assert.equal((await store.get("fallback.example.com"))?.username, "file2");
    assert.equal(await store.get("none.example.com"), undefined);
    const all = await store.all();
    assert.deepEqual(Object.keys(all).sort(), [
      "fallback.example.com",
      "one.example.com",
      "stored.example.com",
    ]);
    assert.equal(all["one.example.com"]?.password, "helper-secret");
    const calls = (await Deno.readTextFile(log)).trim().split("\n");
    assert.ok(calls.includes("get one.example.com"), calls.join());
    assert.ok(calls.includes("list "), calls.join());
  } finally {
    await Deno.remove(logDir, { recursive: true });
  }
});

Deno.test("CredentialStore asks helpers for Docker Hub with the Hub key", async () => {
  await using _helpers = await fakeHelpers({
    "berth-hub": helperScript(DOCKER_HUB_KEY, "hub-user", "hub-pw"),
  });
  await using config = await tempConfig({ credsStore: "berth-hub" });
  const auth = await CredentialStore.fromDockerConfig(config.path).forImage("busybox");
  assert.equal(auth?.username, "hub-user");
  assert.equal(auth?.serveraddress, DOCKER_HUB_KEY);
});

Deno.test("CredentialStore reports failing, missing and unsafe helpers as DockerError", async (t) => {
  await using _helpers = await fakeHelpers({
    "berth-broken": `echo "keychain locked" >&2; exit 3`,
    "berth-garbage": `read -r s; echo "not json ${PASSWORD}"`,
  });
  const cases: Array<[string, unknown, RegExp]> = [
    ["exit code", { credsStore: "berth-broken" }, /exit code 3: keychain locked/],
    ["not JSON", { credsStore: "berth-garbage" }, /not JSON/],
    ["missing", { credsStore: "berth-missing-helper" }, /docker-credential-berth-missing-helper/],
    ["unsafe name", { credHelpers: { "r.example.com": "../../bin/sh" } }, /not a plain name/],
  ];
  for (const [name, content, message] of cases) {
    await t.step(name, async () => {
      await using config = await tempConfig(content);
      const store = CredentialStore.fromDockerConfig(config.path);
      const error = await store.get("r.example.com").then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof DockerError, String(error));
      assert.match(error.message, message);
      assert.ok(!error.message.includes(PASSWORD));
    });
  }
});

Deno.test("CredentialStore kills a helper that does not answer in time", async () => {
  await using _helpers = await fakeHelpers({ "berth-slow": "exec sleep 5" });
  await using config = await tempConfig({ credsStore: "berth-slow" });
  const store = CredentialStore.fromDockerConfig(config.path, { helperTimeout: 200 });
  await assert.rejects(
    () => store.get("r.example.com"),
    DockerError,
    "did not answer within 200 ms",
  );
  assert.throws(
    () => CredentialStore.fromDockerConfig(config.path, { helperTimeout: 0 }),
    RangeError,
  );
});

Deno.test("CredentialStore lookups pass an abort reason through unchanged", async () => {
  await using _helpers = await fakeHelpers({ "berth-slow": "exec sleep 5" });
  await using config = await tempConfig({ credsStore: "berth-slow" });
  const store = CredentialStore.fromDockerConfig(config.path);
  const controller = new AbortController();
  const reason = new Error("stop");
  setTimeout(() => controller.abort(reason), 100);
  await assert.rejects(
    () => store.get("r.example.com", { signal: controller.signal }),
    (e) => e === reason,
  );
});

// ---------------------------------------------------------------------------
// Permissions (checked in a child Deno with restricted flags)
// ---------------------------------------------------------------------------

/** Runs a lookup in a child Deno with `flags`; returns its output (the error, or "ok"). */
async function childLookup(
  dir: string,
  flags: string[],
  configPath: string | undefined,
  env: Record<string, string>,
): Promise<string> {
  const module = new URL("../src/auth.ts", import.meta.url).href;
  const script = `${dir}/child.ts`;
  await Deno.writeTextFile(
    script,
    `import { CredentialStore } from ${JSON.stringify(module)};
try {
  await CredentialStore.fromDockerConfig(${JSON.stringify(configPath)}).get("r.example.com");
  console.log("ok");
} catch (error) {
  console.log(error.name + ": " + error.message);
}
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-lock", "--no-config", ...flags, script],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return decoder.decode(output.stdout).trim() || decoder.decode(output.stderr).trim();
}

Deno.test("CredentialStore names the missing Deno permission instead of prompting", async () => {
  await using _helpers = await fakeHelpers({
    "berth-perm": helperScript("r.example.com", "u", "p"),
  });
  await using config = await tempConfig({ credsStore: "berth-perm" });
  const env = {
    DOCKER_CONFIG: config.dir,
    HOME: config.dir,
    PATH: Deno.env.get("PATH") ?? "",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const run = (flags: string[], path?: string) => childLookup(config.dir, flags, path, env);
  assert.match(await run([]), /DockerError: .*--allow-env=DOCKER_CONFIG,HOME/);
  assert.match(
    await run(["--allow-env"], config.path),
    new RegExp(`DockerError: .*--allow-read=${config.dir}`),
  );
  const read = `--allow-read=${config.dir}`;
  assert.match(
    await run(["--allow-env=DOCKER_CONFIG,HOME", read]),
    /DockerError: .*--allow-run=docker-credential-berth-perm/,
  );
  assert.equal(
    await run(["--allow-env=DOCKER_CONFIG,HOME", read, "--allow-run=docker-credential-berth-perm"]),
    "ok",
  );
});

Deno.test("CredentialStore says a credential helper is not on the PATH, and which config entry names it", async () => {
  await using _helpers = await fakeHelpers({
    "berth-there": helperScript("r.example.com", "u", "p"),
  });
  await using store = await tempConfig({ credsStore: "berth-absent" });
  await using helpers = await tempConfig({ credHelpers: { "r.example.com": "berth-absent" } });
  const env = (dir: string) => ({
    DOCKER_CONFIG: dir,
    PATH: Deno.env.get("PATH") ?? "",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  });
  const absent = "docker-credential-berth-absent";
  const notFound = (path: string, origin: string) =>
    `DockerError: Cannot get credentials for "r.example.com": credential helper "${absent}" (from ${origin} in "${path}") was not found on the PATH`;
  // Deno drops an --allow-run it cannot resolve on the PATH, so the
  // permission reads as missing: berth looks on the PATH itself.
  const flags = ["--allow-env", "--allow-read", `--allow-run=${absent}`];
  assert.equal(
    await childLookup(store.dir, flags, undefined, env(store.dir)),
    notFound(store.path, "credsStore"),
  );
  assert.equal(
    await childLookup(helpers.dir, flags, undefined, env(helpers.dir)),
    notFound(helpers.path, 'credHelpers["r.example.com"]'),
  );
  // Every command allowed: the spawn itself finds nothing.
  assert.equal(
    await childLookup(
      store.dir,
      ["--allow-env", "--allow-read", "--allow-run"],
      undefined,
      env(store.dir),
    ),
    notFound(store.path, "credsStore"),
  );
  // On the PATH but not allowed: only the permission is named.
  await using there = await tempConfig({ credsStore: "berth-there" });
  const denied = await childLookup(
    there.dir,
    ["--allow-env", "--allow-read"],
    undefined,
    env(there.dir),
  );
  assert.equal(
    denied,
    `DockerError: Cannot get credentials for "r.example.com" with credential helper "docker-credential-berth-there" (from credsStore in "${there.path}"): Deno needs --allow-run=docker-credential-berth-there`,
  );
  // PATH not readable: berth cannot tell which, and says both.
  const unsure = await childLookup(
    store.dir,
    ["--allow-env=DOCKER_CONFIG,HOME", `--allow-read=${store.dir}`, `--allow-run=${absent}`],
    undefined,
    env(store.dir),
  );
  assert.match(
    unsure,
    new RegExp(`Deno needs --allow-run=${absent}, and the helper must be on the PATH`),
  );
});

Deno.test("CredentialStore.fromDockerConfig needs HOME only when DOCKER_CONFIG is unset", async () => {
  await using config = await tempConfig({
    auths: { "r.example.com": { username: "env", password: "pw" } },
  });
  const base = {
    PATH: Deno.env.get("PATH") ?? "",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const withConfig = { ...base, DOCKER_CONFIG: config.dir, HOME: "/nonexistent" };
  const withoutConfig = { ...base, HOME: config.dir };
  const read = `--allow-read=${config.dir}`;
  const run = (flags: string[], env: Record<string, string>) =>
    childLookup(config.dir, flags, undefined, env);
  // DOCKER_CONFIG set: it alone is enough, as with the docker CLI's config.Dir().
  assert.equal(await run(["--allow-env=DOCKER_CONFIG", read], withConfig), "ok");
  // Nothing readable: both, and when HOME is needed.
  assert.equal(
    await run([read], withConfig),
    "DockerError: Cannot find the Docker config: Deno needs --allow-env=DOCKER_CONFIG,HOME (HOME only when DOCKER_CONFIG is unset), or pass the config path",
  );
  // HOME readable: DOCKER_CONFIG still comes first, and is all that is missing.
  assert.equal(
    await run(["--allow-env=HOME", read], withConfig),
    "DockerError: Cannot find the Docker config: Deno needs --allow-env=DOCKER_CONFIG, or pass the config path",
  );
  // DOCKER_CONFIG unset: then HOME is needed, and only HOME is asked for.
  assert.match(
    await run(["--allow-env=DOCKER_CONFIG", read], withoutConfig),
    /DockerError: Cannot find the Docker config: DOCKER_CONFIG is unset, .*--allow-env=HOME /,
  );
  // ... and with it, ~/.docker/config.json is found.
  await Deno.mkdir(`${config.dir}/.docker`);
  await Deno.writeTextFile(`${config.dir}/.docker/config.json`, "{}");
  assert.equal(await run(["--allow-env=DOCKER_CONFIG,HOME", read], withoutConfig), "ok");
});

Deno.test("scrubSecrets rebuilds errors without the secret, keeping class, status and action", () => {
  const secret = "s3cr3t-pw";
  const api = new DockerNotFoundError({
    status: 404,
    statusText: "Not Found",
    method: "GET",
    path: `/distribution/x/json?token=${secret}`,
    engineMessage: `no such thing for ${secret}`,
    action: 'inspect image "x" in its registry',
  });
  const clean = scrubSecrets(api, [secret, undefined, ""]) as DockerNotFoundError;
  assert.ok(clean instanceof DockerNotFoundError);
  assert.equal(clean.status, 404);
  assert.match(clean.message, /^Cannot inspect image "x" in its registry: engine answered 404/);
  for (
    const text of [
      clean.message,
      clean.stack ?? "",
      clean.path,
      clean.engineMessage,
      JSON.stringify(clean),
    ]
  ) {
    assert.ok(!text.includes(secret), text);
  }
  const stream = scrubSecrets(
    new DockerStreamError(
      `Cannot push image "a": denied ${secret}`,
      { code: 1, message: secret },
      `denied ${secret}`,
    ),
    [secret],
  );
  assert.ok(stream instanceof DockerStreamError);
  assert.equal(stream.detail?.message, "<redacted>");
  assert.equal(stream.message, 'Cannot push image "a": denied <redacted>');
  assert.equal(stream.engineMessage, "denied <redacted>");
  assert.ok(!(stream.stack ?? "").includes(secret));
  const untouched = new DockerStreamError("nothing secret here");
  assert.equal(scrubSecrets(untouched, [secret]), untouched);
  assert.equal(scrubSecrets("not an error", [secret]), "not an error");
});
