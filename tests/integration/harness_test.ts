/**
 * Checks of the test harness itself (`tools/test.ts`): the engine, the test
 * image and the registry it promises are really there. Raw HTTP only, so that
 * these tests do not depend on the library they exist to test.
 */

import assert from "node:assert/strict";
import { engineRequest, pingEngine } from "../../tools/_engine.ts";
import { engineRequired, TEST_LABELS, testEnv, uniqueName } from "./_env.ts";

/** Registry tests are skipped only when nothing requires them (plain `deno test` outside CI). */
const noRegistry = !engineRequired() && testEnv().registry === undefined;

Deno.test("harness: the engine answers _ping on BERTH_TEST_HOST", async () => {
  const { host } = testEnv();
  assert.ok(await pingEngine(host), `no _ping answer from ${host}`);
  const version = await engineRequest(host, "/version");
  assert.equal(version.status, 200);
  assert.match(JSON.parse(version.text()).ApiVersion, /^1\.\d+$/);
});

Deno.test("harness: pingEngine answers false for a socket nobody listens on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await pingEngine(`unix://${dir}/none.sock`, 500), false);
    assert.equal(await pingEngine("not a host", 500), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("harness: the test image exists with its label, command and PATH", async () => {
  const { host, image } = testEnv();
  const response = await engineRequest(host, `/images/${image}/json`);
  assert.equal(response.status, 200, `GET /images/${image}/json: ${response.text()}`);
  const config = JSON.parse(response.text()).Config;
  assert.equal(config.Labels?.["berth.test"], TEST_LABELS["berth.test"]);
  assert.deepEqual(config.Cmd, ["/bin/sh"]);
  assert.ok(config.Env.includes("PATH=/bin"));
});

Deno.test({
  name: "harness: registry /v2/ answers 401 without credentials and 200 with them",
  ignore: noRegistry,
  async fn() {
    const registry = testEnv().registry;
    assert.ok(registry, "BERTH_TEST_REGISTRY is not set");
    const url = `http://${registry.address}/v2/`;
    const basic = (user: string, password: string) => ({
      Authorization: `Basic ${btoa(`${user}:${password}`)}`,
    });

    const anonymous = await fetch(url);
    await anonymous.body?.cancel();
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic realm=/);

    const wrong = await fetch(url, { headers: basic(registry.username, `${registry.password}x`) });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);

    const authorized = await fetch(url, { headers: basic(registry.username, registry.password) });
    assert.equal(authorized.status, 200);
    assert.equal(await authorized.text(), "{}");
  },
});

Deno.test({
  name: "harness: the engine can log in to the registry, and refuses a wrong password",
  ignore: noRegistry,
  async fn() {
    const { host, registry } = testEnv();
    assert.ok(registry, "BERTH_TEST_REGISTRY is not set");
    const login = (password: string) =>
      engineRequest(host, "/auth", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          username: registry.username,
          password,
          serveraddress: registry.address,
        }),
      });

    const good = await login(registry.password);
    assert.equal(good.status, 200, good.text());
    assert.equal(JSON.parse(good.text()).Status, "Login Succeeded");

    // Engine 20.10 answers 500 here, newer ones 401: any refusal will do.
    const bad = await login(`${registry.password}x`);
    assert.ok(bad.status >= 400, `wrong password accepted: ${bad.status} ${bad.text()}`);
    assert.match(bad.text(), /401|unauthorized/i);
  },
});

Deno.test("harness: uniqueName makes distinct valid names and rejects bad prefixes", () => {
  const a = uniqueName("x");
  const b = uniqueName("x");
  assert.notEqual(a, b);
  assert.match(a, /^berth-test-x-[0-9a-f]{8}$/);
  assert.throws(() => uniqueName("no spaces"), TypeError);
});
