// Every MongoDB collection method of realm-web's mongoClient, with the rules allowing and
// refusing, and the two custom user data permission models end to end.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer, APP_ID } from "./server.mjs";

const { BSON } = Realm;
let server;
let alice;
let bob;
let items; // alice's view
let bobItems; // bob's view

before(async () => {
  server = await startServer();
  const app = new Realm.App({ id: APP_ID, baseUrl: server.url });
  alice = await app.logIn(Realm.Credentials.anonymous(false));
  bob = await app.logIn(Realm.Credentials.anonymous(false));
  items = alice.mongoClient("mongodb-atlas").db("todo").collection("items");
  bobItems = bob.mongoClient("mongodb-atlas").db("todo").collection("items");
});

after(async () => {
  await server.stop();
});

const refused = (code) => (e) => {
  assert.ok(e.statusCode >= 400 && e.statusCode < 500, `status ${e.statusCode}`);
  assert.equal(e.errorCode, code, e.message);
  return true;
};

test("insertOne and insertMany as the owner; refused for a document another user would own", async () => {
  const one = await items.insertOne({ _id: "a1", owner_id: alice.id, title: "one", public: false, secret: "s1", tags: [1, 2, 3] });
  assert.deepEqual(one, { insertedId: "a1" });
  const many = await items.insertMany([
    { _id: "a2", owner_id: alice.id, title: "two", public: true, secret: "s2", n: 2 },
    { _id: "a3", owner_id: alice.id, title: "three", public: false, secret: "s3", n: 3 },
  ]);
  assert.deepEqual(many, { insertedIds: ["a2", "a3"] });
  const generated = await items.insertOne({ owner_id: alice.id, title: "generated", public: false });
  assert.ok(generated.insertedId instanceof BSON.ObjectId);
  await items.deleteOne({ _id: generated.insertedId });
  await assert.rejects(bobItems.insertOne({ _id: "b1", owner_id: alice.id, title: "forged", public: false }), refused("NotPermitted"));
  await assert.rejects(bobItems.insertMany([{ _id: "b2", owner_id: bob.id }, { _id: "b3", owner_id: alice.id }]), refused("NotPermitted"));
});

test("find with query, projection (sent as `project`), sort and limit; others see only what the rules show", async () => {
  const all = await items.find({}, { sort: { _id: 1 } });
  assert.deepEqual(all.map((d) => d._id), ["a1", "a2", "a3"]);
  const projected = await items.find({ public: false }, { projection: { title: 1 }, sort: { title: -1 }, limit: 1 });
  assert.deepEqual(projected, [{ _id: "a3", title: "three" }]);
  // bob sees the public item without its hidden fields, and nothing else
  const seen = await bobItems.find({});
  assert.deepEqual(seen, [{ _id: "a2", owner_id: alice.id, title: "two", public: true }]);
  // a query on a hidden field matches nothing for him
  assert.deepEqual(await bobItems.find({ secret: "s2" }), []);
});

test("findOne and count", async () => {
  const doc = await items.findOne({ title: "one" }, { projection: { secret: 1 } });
  assert.deepEqual(doc, { _id: "a1", secret: "s1" });
  assert.equal(await items.findOne({ title: "none" }), null);
  const first = await items.findOne({}, { sort: { _id: -1 } });
  assert.equal(first._id, "a3");
  assert.equal(await items.count({}), 3);
  assert.equal(await items.count({}, { limit: 2 }), 2);
  assert.equal(await bobItems.count({}), 1);
  assert.equal(await bobItems.findOne({ _id: "a1" }), null);
});

test("aggregate runs behind the read rules; system-only stages are refused", async () => {
  const sum = await items.aggregate([{ $match: { n: { $exists: true } } }, { $group: { _id: null, total: { $sum: "$n" } } }]);
  assert.equal(sum[0].total, 5);
  const bobs = await bobItems.aggregate([{ $project: { secret: 1, title: 1 } }]);
  assert.deepEqual(bobs, [{ _id: "a2", title: "two" }]);
  await assert.rejects(bobItems.aggregate([{ $lookup: { from: "users", localField: "owner_id", foreignField: "user_id", as: "u" } }]), (e) => e.statusCode === 400);
});

test("updateOne and updateMany with upsert and arrayFilters; refused or unmatched for others", async () => {
  const r = await items.updateOne({ _id: "a1" }, { $set: { title: "uno" } });
  assert.deepEqual(r, { matchedCount: 1, modifiedCount: 1 });
  const af = await items.updateOne({ _id: "a1" }, { $set: { "tags.$[t]": 0 } }, { arrayFilters: [{ t: { $gt: 1 } }] });
  assert.equal(af.modifiedCount, 1);
  assert.deepEqual((await items.findOne({ _id: "a1" })).tags, [1, 0, 0]);
  const up = await items.updateOne({ _id: "a4" }, { $set: { owner_id: alice.id, title: "four", public: false } }, { upsert: true });
  assert.deepEqual(up, { matchedCount: 0, modifiedCount: 0, upsertedId: "a4" });
  const many = await items.updateMany({ public: false }, { $set: { checked: true } });
  assert.deepEqual(many, { matchedCount: 3, modifiedCount: 3 });
  // bob may read a2 but not write it; a1 he cannot see at all
  await assert.rejects(bobItems.updateOne({ _id: "a2" }, { $set: { title: "mine now" } }), refused("NotPermitted"));
  assert.deepEqual(await bobItems.updateOne({ _id: "a1" }, { $set: { title: "x" } }), { matchedCount: 0, modifiedCount: 0 });
  await assert.rejects(bobItems.updateMany({}, { $set: { owner_id: bob.id } }), refused("NotPermitted"));
  assert.equal((await items.findOne({ _id: "a2" })).title, "two");
});

test("findOneAndUpdate, findOneAndReplace and findOneAndDelete (realm-web sends it as findOneAndReplace)", async () => {
  const before = await items.findOneAndUpdate({ _id: "a3" }, { $inc: { n: 1 } });
  assert.equal(before.n, 3);
  const after = await items.findOneAndUpdate({ _id: "a3" }, { $inc: { n: 1 } }, { returnNewDocument: true, projection: { n: 1 } });
  assert.deepEqual(after, { _id: "a3", n: 5 });
  const replaced = await items.findOneAndReplace({ _id: "a4" }, { owner_id: alice.id, title: "FOUR", public: false }, { returnNewDocument: true });
  assert.deepEqual(replaced, { _id: "a4", owner_id: alice.id, title: "FOUR", public: false });
  const deleted = await items.findOneAndDelete({ _id: "a4" }, { projection: { title: 1 } });
  assert.deepEqual(deleted, { _id: "a4", title: "FOUR" });
  assert.equal(await items.findOne({ _id: "a4" }), null);
  await assert.rejects(bobItems.findOneAndUpdate({ _id: "a2" }, { $set: { title: "x" } }), refused("NotPermitted"));
  await assert.rejects(bobItems.findOneAndDelete({ _id: "a2" }), refused("NotPermitted"));
  assert.equal(await bobItems.findOneAndDelete({ _id: "a1" }), null);
});

test("deleteOne and deleteMany; others cannot delete", async () => {
  await assert.rejects(bobItems.deleteOne({ _id: "a2" }), refused("NotPermitted"));
  assert.deepEqual(await bobItems.deleteMany({ _id: "a1" }), { deletedCount: 0 });
  assert.deepEqual(await items.deleteOne({ _id: "a1" }), { deletedCount: 1 });
  assert.deepEqual(await items.deleteMany({}), { deletedCount: 2 });
  assert.equal(await items.count({}), 0);
});

test("a namespace without rules is NoMatchingRuleFound (403)", async () => {
  const none = alice.mongoClient("mongodb-atlas").db("todo").collection("no_rules_here");
  await assert.rejects(none.find({}), (e) => {
    assert.equal(e.statusCode, 403);
    assert.equal(e.errorCode, "NoMatchingRuleFound");
    return true;
  });
  const unknown = alice.mongoClient("no-such-service").db("todo").collection("items");
  await assert.rejects(unknown.find({}), (e) => e.statusCode === 404);
});

test("custom user data, both permission models: the user writes their nickname directly, a system function their language", async () => {
  const users = alice.mongoClient("mongodb-atlas").db("todo").collection("users");
  const mine = await users.updateOne({ user_id: alice.id }, { $set: { nickname: "ally" } });
  assert.equal(mine.modifiedCount, 1);
  await assert.rejects(users.updateOne({ user_id: alice.id }, { $set: { language: "de" } }), refused("NotPermitted"));
  assert.equal(await alice.functions.setLanguage("de"), true);
  const data = await alice.refreshCustomData();
  assert.equal(data.nickname, "ally");
  assert.equal(data.language, "de");
  // bob's document is not alice's to read or write
  assert.equal(await users.findOne({ user_id: bob.id }), null);
  assert.deepEqual(await users.updateOne({ user_id: bob.id }, { $set: { nickname: "x" } }), { matchedCount: 0, modifiedCount: 0 });
});
