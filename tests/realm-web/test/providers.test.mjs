// Every authentication provider of app/auth/providers.json through the unmodified realm-web
// client: email/password (registration, the reset function, the refusals), custom JWT (signed
// here with HMAC-SHA256 from node:crypto), user API keys (create, list, fetch, disable, enable,
// delete, log in with one), the custom authentication function, and linking an identity to an
// anonymous user. Providers are found by their configured name (a copy of the app renames one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as Realm from "realm-web";
import { startServer, raw, APP_ID, APP_DIR, JWT_KEY } from "./server.mjs";

let server;
let app;

before(async () => {
  server = await startServer();
  app = new Realm.App({ id: APP_ID, baseUrl: server.url });
});

after(async () => {
  assert.equal(await server.stop(), 0, "the server shuts down cleanly on SIGTERM");
});

const email = () => `user-${randomBytes(6).toString("hex")}@example.com`;
const PASSWORD = "correct horse battery";

/** Asserts that `promise` rejects with a realm-web MongoDBRealmError of this status and code. */
async function refused(promise, statusCode, errorCode) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, statusCode, e.message);
    assert.equal(e.errorCode, errorCode, e.message);
    return true;
  });
}

const providerTypes = (user) => user.identities.map((i) => i.providerType).sort();

/** An HS256 JWT signed with `key` (the custom-token provider's key by default). */
function jwt(claims, key = JWT_KEY) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  const signature = createHmac("sha256", key).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({
  sub: `jwt-${randomBytes(4).toString("hex")}`,
  aud: "expanse-realm-web-tests",
  iat: now() - 10,
  exp: now() + 600,
  name: "Jay Doe",
  profile: { team: "blue" },
  ...extra,
});

test("email/password: register, log in, profile; a second registration and a wrong password are refused", async () => {
  const address = email();
  await app.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(address, PASSWORD));
  assert.match(user.id, /^[0-9a-f]{24}$/);
  assert.equal(user.providerType, "local-userpass");
  assert.deepEqual(providerTypes(user), ["local-userpass"]);
  assert.equal(user.profile.email, address);
  // the user creation function ran for them too
  assert.equal(user.customData.user_id, user.id);
  // logging in again is the same user
  const again = await app.logIn(Realm.Credentials.emailPassword(address, PASSWORD));
  assert.equal(again.id, user.id);

  await refused(
    app.emailPasswordAuth.registerUser({ email: address, password: "another password" }),
    409,
    "AccountNameInUse"
  );
  await refused(app.logIn(Realm.Credentials.emailPassword(address, "wrong password")), 401, "InvalidPassword");
  // an unknown email gets the same answer as a wrong password
  await refused(app.logIn(Realm.Credentials.emailPassword(email(), PASSWORD)), 401, "InvalidPassword");
  // too short a password is refused at registration
  await refused(app.emailPasswordAuth.registerUser({ email: email(), password: "123" }), 400, "BadRequest");
});

test("email/password: the reset function sets a new password when it answers success, and nothing otherwise", async () => {
  const address = email();
  await app.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(address, PASSWORD));
  const oldRefresh = user.refreshToken;

  // the function answers fail: nothing changes
  await refused(
    app.emailPasswordAuth.callResetPasswordFunction({ email: address, password: "a new password" }, "wrong answer"),
    400,
    "BadRequest"
  );
  await refused(app.logIn(Realm.Credentials.emailPassword(address, "a new password")), 401, "InvalidPassword");

  // success: the new password works, the old one does not, and the user's sessions ended
  await app.emailPasswordAuth.callResetPasswordFunction(
    { email: address, password: "a new password" },
    "the answer is 42"
  );
  await refused(app.logIn(Realm.Credentials.emailPassword(address, PASSWORD)), 401, "InvalidPassword");
  const renewed = await raw(server, "POST", "/api/client/v2.0/auth/session", {
    headers: { Authorization: `Bearer ${oldRefresh}` },
  });
  assert.equal(renewed.status, 401);
  assert.equal(renewed.json.error_code, "InvalidSession");
  const back = await app.logIn(Realm.Credentials.emailPassword(address, "a new password"));
  assert.equal(back.id, user.id);

  // an unknown email
  await refused(
    app.emailPasswordAuth.callResetPasswordFunction({ email: email(), password: "whatever123" }, "the answer is 42"),
    404,
    "UserNotFound"
  );
});

test("email/password: the other routes answer as App Services for this configuration", async () => {
  const address = email();
  await app.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
  // auto-confirmed: confirming again or re-running the confirmation is refused
  await refused(app.emailPasswordAuth.retryCustomConfirmation({ email: address }), 409, "UserAlreadyConfirmed");
  await refused(app.emailPasswordAuth.resendConfirmationEmail({ email: address }), 400, "BadRequest");
  // tokens that were never issued
  const bogus = { token: "0".repeat(64), tokenId: "0".repeat(24) };
  await refused(app.emailPasswordAuth.confirmUser(bogus), 400, "UserpassTokenInvalid");
  await refused(app.emailPasswordAuth.resetPassword({ ...bogus, password: "a new password" }), 400, "UserpassTokenInvalid");
  // a reset function is configured: no reset email
  await refused(app.emailPasswordAuth.sendResetPasswordEmail({ email: address }), 400, "BadRequest");
});

test("custom JWT: a signed token logs in with its metadata; a bad signature, an expired token and a wrong audience are refused", async () => {
  const c = claims();
  const user = await app.logIn(Realm.Credentials.jwt(jwt(c)));
  assert.equal(user.providerType, "custom-token");
  assert.deepEqual(providerTypes(user), ["custom-token"]);
  assert.equal(user.identities[0].id, c.sub);
  assert.equal(user.profile.name, "Jay Doe");
  assert.equal(user.profile.team, "blue");
  // the same subject is the same user, and new metadata replaces the old
  const again = await app.logIn(Realm.Credentials.jwt(jwt({ ...c, name: "Jay Q. Doe" })));
  assert.equal(again.id, user.id);
  assert.equal(again.profile.name, "Jay Q. Doe");

  await refused(app.logIn(Realm.Credentials.jwt(jwt(claims(), "another key, not the configured one"))), 401, "AuthError");
  await refused(app.logIn(Realm.Credentials.jwt(jwt(claims({ exp: now() - 60, iat: now() - 120 })))), 401, "AuthError");
  await refused(app.logIn(Realm.Credentials.jwt(jwt(claims({ aud: "someone-else" })))), 401, "AuthError");
  const { name, ...nameless } = claims();
  assert.equal(typeof name, "string");
  await refused(app.logIn(Realm.Credentials.jwt(jwt(nameless))), 401, "AuthError");
  // a tampered payload
  const [h, , s] = jwt(claims()).split(".");
  const forged = `${h}.${Buffer.from(JSON.stringify(claims({ sub: "admin" }))).toString("base64url")}.${s}`;
  await refused(app.logIn(Realm.Credentials.jwt(forged)), 401, "AuthError");
  await refused(app.logIn(Realm.Credentials.jwt("not a jwt")), 401, "AuthError");
});

test("user API keys: create, list, fetch, log in with one, disable, enable, delete", async () => {
  const address = email();
  await app.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(address, PASSWORD));

  const created = await user.apiKeys.create("laptop");
  assert.match(created._id, /^[0-9a-f]{24}$/);
  assert.equal(created.name, "laptop");
  assert.equal(created.disabled, false);
  assert.equal(typeof created.key, "string");
  assert.ok(created.key.length >= 32);
  await refused(user.apiKeys.create("laptop"), 409, "APIKeyAlreadyExists");

  const all = await user.apiKeys.fetchAll();
  assert.deepEqual(all, [{ _id: created._id, name: "laptop", disabled: false }]);
  const one = await user.apiKeys.fetch(created._id);
  assert.deepEqual(one, { _id: created._id, name: "laptop", disabled: false });
  assert.equal(one.key, undefined, "the secret is shown once");

  // the key logs in as its owner, with an api-key identity added
  const viaKey = await app.logIn(Realm.Credentials.apiKey(created.key));
  assert.equal(viaKey.id, user.id);
  assert.deepEqual(providerTypes(viaKey), ["api-key", "local-userpass"]);

  await user.apiKeys.disable(created._id);
  assert.equal((await user.apiKeys.fetch(created._id)).disabled, true);
  await refused(app.logIn(Realm.Credentials.apiKey(created.key)), 401, "AuthError");
  await user.apiKeys.enable(created._id);
  assert.equal((await app.logIn(Realm.Credentials.apiKey(created.key))).id, user.id);

  await user.apiKeys.delete(created._id);
  assert.deepEqual(await user.apiKeys.fetchAll(), []);
  await refused(user.apiKeys.fetch(created._id), 404, "APIKeyNotFound");
  await refused(app.logIn(Realm.Credentials.apiKey(created.key)), 401, "AuthError");
  await refused(app.logIn(Realm.Credentials.apiKey("no-such-key")), 401, "AuthError");

  // another user cannot see or touch the key of someone else
  const second = await user.apiKeys.create("phone");
  const otherAddress = email();
  await app.emailPasswordAuth.registerUser({ email: otherAddress, password: PASSWORD });
  const other = await app.logIn(Realm.Credentials.emailPassword(otherAddress, PASSWORD));
  assert.deepEqual(await other.apiKeys.fetchAll(), []);
  await refused(other.apiKeys.fetch(second._id), 404, "APIKeyNotFound");
  await refused(other.apiKeys.delete(second._id), 404, "APIKeyNotFound");
  await refused(other.apiKeys.disable(second._id), 404, "APIKeyNotFound");
  assert.equal((await user.apiKeys.fetch(second._id)).disabled, false);

  // an anonymous user cannot create keys
  const anonymous = await app.logIn(Realm.Credentials.anonymous(false));
  await refused(anonymous.apiKeys.create("nope"), 400, "BadRequest");
});

test("custom function: the function's id logs in; a throw refuses with its message", async () => {
  const externalId = `ext-${randomBytes(4).toString("hex")}`;
  const user = await app.logIn(Realm.Credentials.function({ pin: "1234", externalId, name: "Pat" }));
  assert.equal(user.providerType, "custom-function");
  assert.deepEqual(providerTypes(user), ["custom-function"]);
  assert.equal(user.identities[0].id, externalId);
  assert.equal(user.profile.name, "Pat");
  const again = await app.logIn(Realm.Credentials.function({ pin: "1234", externalId }));
  assert.equal(again.id, user.id);

  await assert.rejects(app.logIn(Realm.Credentials.function({ pin: "0000", externalId })), (e) => {
    assert.equal(e.statusCode, 401);
    assert.equal(e.errorCode, "AuthError");
    assert.match(e.error, /wrong pin/);
    return true;
  });
  await refused(app.logIn(Realm.Credentials.function({ pin: "1234" })), 401, "AuthError");
});

test("linking: an anonymous user links an email/password identity and keeps their id", async () => {
  const anonymous = await app.logIn(Realm.Credentials.anonymous(false));
  const address = email();
  await app.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
  await anonymous.linkCredentials(Realm.Credentials.emailPassword(address, PASSWORD));
  assert.deepEqual(providerTypes(anonymous), ["anon-user", "local-userpass"]);
  const viaPassword = await app.logIn(Realm.Credentials.emailPassword(address, PASSWORD));
  assert.equal(viaPassword.id, anonymous.id);

  // an identity that belongs to another user cannot be linked
  const other = await app.logIn(Realm.Credentials.anonymous(false));
  await refused(other.linkCredentials(Realm.Credentials.emailPassword(address, PASSWORD)), 400, "BadRequest");
  // nor with a wrong password
  const third = await app.logIn(Realm.Credentials.anonymous(false));
  await refused(third.linkCredentials(Realm.Credentials.emailPassword(address, "wrong password")), 401, "InvalidPassword");
  assert.deepEqual(providerTypes(third), ["anon-user"]);
});

/**
 * Starts a server over a copy of ../app: `edit(dir)` changes the copy first. Returns the
 * server, a realm-web App for it (its own app id) and a cleanup function.
 */
async function serveCopy(id, edit) {
  const dir = mkdtempSync(path.join(tmpdir(), "expanse-providers-"));
  const copy = path.join(dir, "app");
  cpSync(APP_DIR, copy, { recursive: true });
  edit(copy);
  const copyServer = await startServer({ appDir: copy, env: { EXPANSE_APP_ID: id } });
  return {
    server: copyServer,
    app: new Realm.App({ id, baseUrl: copyServer.url }),
    async stop() {
      await copyServer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Rewrites the copy's auth/providers.json with `edit(providers)`. */
function editProviders(copy, edit) {
  const file = path.join(copy, "auth", "providers.json");
  const providers = JSON.parse(readFileSync(file, "utf8"));
  edit(providers);
  writeFileSync(file, JSON.stringify(providers));
}

/** Adds functions (name → [source, config]) to the copy. */
function addFunctions(copy, functions) {
  const file = path.join(copy, "functions", "config.json");
  const config = JSON.parse(readFileSync(file, "utf8")).filter((f) => !(f.name in functions));
  for (const [name, [source, settings]] of Object.entries(functions)) {
    writeFileSync(path.join(copy, "functions", `${name}.js`), source);
    config.push({ name, ...settings });
  }
  writeFileSync(file, JSON.stringify(config));
}

test("providers are found by their configured name; unknown and disabled ones are refused", async () => {
  // a copy of the app whose custom function provider is named "pin-login" and whose API key
  // provider is disabled
  const id = "expanse-realm-web-named";
  const copy = await serveCopy(id, (dir) =>
    editProviders(dir, (providers) => {
      providers["pin-login"] = { ...providers["custom-function"], name: "pin-login" };
      delete providers["custom-function"];
      providers["api-key"].disabled = true;
    })
  );
  try {
    const namedApp = copy.app;
    const payload = { pin: "1234", externalId: "named-1" };
    const user = await namedApp.logIn(new Realm.Credentials("pin-login", "custom-function", false, payload));
    assert.deepEqual(providerTypes(user), ["custom-function"]);
    // the type is not a name here
    await refused(namedApp.logIn(Realm.Credentials.function(payload)), 404, "AuthProviderNotFound");
    await refused(namedApp.logIn(Realm.Credentials.apiKey("whatever")), 404, "AuthProviderNotFound");
    await refused(
      namedApp.logIn(new Realm.Credentials("no-such-provider", "anon-user", false, {})),
      404,
      "AuthProviderNotFound"
    );
    // the email/password routes look their provider up by name as well
    const register = await raw(copy.server, "POST", `/api/client/v2.0/app/${id}/auth/providers/pin-login/register`, {
      body: JSON.stringify({ email: email(), password: PASSWORD }),
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(register.status, 404);
    assert.equal(register.json.error_code, "AuthProviderNotFound");
  } finally {
    await copy.stop();
  }
});

test("confirmation and reset functions that answer pending: the client finishes with the token they sent out of band", async () => {
  // the functions put their tokens in an outbox (as an SMS would carry them); outOfBand reads it
  const outbox = `const outbox = () => context.services.get("mongodb-atlas").db("todo").collection("outbox");`;
  const copy = await serveCopy("expanse-realm-web-pending", (dir) => {
    editProviders(dir, (providers) => {
      providers["local-userpass"].config = {
        autoConfirm: false,
        runConfirmationFunction: true,
        confirmationFunctionName: "confirmByCode",
        runResetFunction: true,
        resetFunctionName: "resetPassword",
      };
    });
    addFunctions(dir, {
      confirmByCode: [
        `${outbox}
exports = async function ({ token, tokenId, username }) {
  await outbox().deleteMany({ username, kind: "confirm" });
  await outbox().insertOne({ username, kind: "confirm", token, tokenId });
  return { status: username.startsWith("fail") ? "fail" : "pending" };
};`,
        { private: true, run_as_system: true },
      ],
      resetPassword: [
        `${outbox}
exports = async function ({ username, token, tokenId }) {
  await outbox().deleteMany({ username, kind: "reset" });
  await outbox().insertOne({ username, kind: "reset", token, tokenId });
  return { status: "pending" };
};`,
        { private: true, run_as_system: true },
      ],
      outOfBand: [
        `${outbox}
exports = async function (username, kind) {
  const sent = await outbox().findOne({ username, kind });
  return sent && { token: sent.token, tokenId: sent.tokenId };
};`,
        { private: false, run_as_system: true },
      ],
    });
  });
  try {
    const pendingApp = copy.app;
    const reader = await pendingApp.logIn(Realm.Credentials.anonymous(false));
    const sent = async (address, kind) => {
      const message = await reader.functions.outOfBand(address, kind);
      assert.equal(typeof message?.token, "string", `a ${kind} token was sent to ${address}`);
      return message;
    };
    const address = email();
    await pendingApp.emailPasswordAuth.registerUser({ email: address, password: PASSWORD });
    // pending: no login yet
    await refused(pendingApp.logIn(Realm.Credentials.emailPassword(address, PASSWORD)), 401, "AuthError");
    const first = await sent(address, "confirm");
    // the flow runs again and sends a new token
    await pendingApp.emailPasswordAuth.retryCustomConfirmation({ email: address });
    const second = await sent(address, "confirm");
    assert.notEqual(second.tokenId, first.tokenId);
    await refused(
      pendingApp.emailPasswordAuth.confirmUser({ token: second.token, tokenId: first.tokenId }),
      400,
      "UserpassTokenInvalid"
    );
    await pendingApp.emailPasswordAuth.confirmUser(second);
    const user = await pendingApp.logIn(Realm.Credentials.emailPassword(address, PASSWORD));
    assert.deepEqual(providerTypes(user), ["local-userpass"]);
    // a token works once
    await refused(pendingApp.emailPasswordAuth.confirmUser(second), 400, "UserpassTokenInvalid");
    await refused(pendingApp.emailPasswordAuth.retryCustomConfirmation({ email: address }), 409, "UserAlreadyConfirmed");

    // a confirmation function answering fail keeps no account: the email can register again
    const failing = `fail-${email()}`;
    await refused(pendingApp.emailPasswordAuth.registerUser({ email: failing, password: PASSWORD }), 400, "BadRequest");
    await refused(pendingApp.emailPasswordAuth.registerUser({ email: failing, password: PASSWORD }), 400, "BadRequest");

    // reset: the function answers pending; the password changes only with its token
    await pendingApp.emailPasswordAuth.callResetPasswordFunction({ email: address, password: "a new password" });
    assert.equal((await pendingApp.logIn(Realm.Credentials.emailPassword(address, PASSWORD))).id, user.id);
    const reset = await sent(address, "reset");
    await pendingApp.emailPasswordAuth.resetPassword({ ...reset, password: "a new password" });
    await refused(pendingApp.logIn(Realm.Credentials.emailPassword(address, PASSWORD)), 401, "InvalidPassword");
    assert.equal((await pendingApp.logIn(Realm.Credentials.emailPassword(address, "a new password"))).id, user.id);
    await refused(
      pendingApp.emailPasswordAuth.resetPassword({ ...reset, password: "yet another one" }),
      400,
      "UserpassTokenInvalid"
    );
  } finally {
    await copy.stop();
  }
});
