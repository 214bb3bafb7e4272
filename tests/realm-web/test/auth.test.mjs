// Logging in, the profile, custom user data, session refresh, logout and deletion, through the
// unmodified realm-web client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer, raw, APP_ID } from "./server.mjs";

let server;
let app;

before(async () => {
  server = await startServer();
  app = new Realm.App({ id: APP_ID, baseUrl: server.url });
});

after(async () => {
  assert.equal(await server.stop(), 0, "the server shuts down cleanly on SIGTERM");
});

test("anonymous login gives a user with an id, tokens and a profile", async () => {
  const user = await app.logIn(Realm.Credentials.anonymous());
  assert.match(user.id, /^[0-9a-f]{24}$/);
  assert.equal(user.providerType, "anon-user");
  assert.equal(typeof user.accessToken, "string");
  assert.equal(typeof user.refreshToken, "string");
  assert.match(user.deviceId ?? "", /^[0-9a-f]{24}$|^$/);
  // logIn fetched the profile
  assert.equal(user.profile && typeof user.profile, "object");
  assert.deepEqual(
    user.identities.map((i) => i.providerType),
    ["anon-user"]
  );
  assert.equal(app.currentUser.id, user.id);
  assert.equal(user.isLoggedIn, true);
});

test("custom user data comes in the access token, and refreshCustomData reads it again after a system function changed it", async () => {
  const user = await app.logIn(Realm.Credentials.anonymous(false));
  // written by the user creation function
  assert.equal(user.customData.language, "en");
  assert.equal(user.customData.user_id, user.id);
  assert.equal(await user.functions.setLanguage("fr"), true);
  // the token still holds the old data until refreshed, as in App Services
  assert.equal(user.customData.language, "en");
  const fresh = await user.refreshCustomData();
  assert.equal(fresh.language, "fr");
  assert.equal(user.customData.language, "fr");
  // the rules see the new data too (whoami runs as the user)
  const me = await user.functions.whoami();
  assert.equal(me.id, user.id);
  assert.equal(me.custom_data.language, "fr");
});

test("logout ends the session: the old tokens are refused afterwards", async () => {
  const user = await app.logIn(Realm.Credentials.anonymous(false));
  const access = user.accessToken;
  const refresh = user.refreshToken;
  assert.equal(await user.functions.sum(1, 2), 3);
  await user.logOut();
  assert.equal(user.isLoggedIn, false);
  const call = await raw(server, "POST", `/api/client/v2.0/app/${APP_ID}/functions/call`, {
    body: JSON.stringify({ name: "sum", arguments: [1, 2] }),
    headers: { Authorization: `Bearer ${access}`, "Content-Type": "application/json" },
  });
  assert.equal(call.status, 401);
  assert.equal(call.json.error_code, "InvalidSession");
  const renewed = await raw(server, "POST", "/api/client/v2.0/auth/session", {
    headers: { Authorization: `Bearer ${refresh}` },
  });
  assert.equal(renewed.status, 401);
  assert.equal(renewed.json.error_code, "InvalidSession");
});

test("a deleted user's tokens are refused", async () => {
  const user = await app.logIn(Realm.Credentials.anonymous(false));
  const access = user.accessToken;
  await app.deleteUser(user);
  const profile = await raw(server, "GET", "/api/client/v2.0/auth/profile", {
    headers: { Authorization: `Bearer ${access}` },
  });
  assert.equal(profile.status, 401);
  assert.equal(profile.json.error_code, "InvalidSession");
});

test("location answers with this server's origin", async () => {
  const r = await raw(server, "GET", `/api/client/v2.0/app/${APP_ID}/location`);
  assert.equal(r.status, 200);
  assert.equal(r.json.hostname, server.url);
  assert.equal(r.json.deployment_model, "GLOBAL");
});

test("another app id is not found", async () => {
  const other = new Realm.App({ id: "not-this-app", baseUrl: server.url });
  await assert.rejects(other.logIn(Realm.Credentials.anonymous()), (e) => {
    assert.equal(e.statusCode, 404);
    return true;
  });
});

test("the client survives an access token expiry by refreshing and retrying", async () => {
  // its own app id: realm-web keeps one user storage per app id and process
  const id = "expanse-realm-web-short";
  const short = await startServer({ env: { EXPANSE_ACCESS_TOKEN_LIFETIME: "1", EXPANSE_APP_ID: id } });
  try {
    const shortApp = new Realm.App({ id, baseUrl: short.url });
    const user = await shortApp.logIn(Realm.Credentials.anonymous());
    const first = user.accessToken;
    await new Promise((r) => setTimeout(r, 2100));
    // the expired token gets 401 InvalidSession; realm-web refreshes and retries on its own
    assert.equal(await user.functions.sum(2, 3), 5);
    assert.notEqual(user.accessToken, first);
  } finally {
    await short.stop();
  }
});
