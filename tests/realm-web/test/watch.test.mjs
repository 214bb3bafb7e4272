// collection.watch(): server-sent events over a change stream, each event as the watching user
// may see it (documents they cannot read never arrive, hidden fields are left out). On the
// embedded store (its change log) always, and on the test server's change streams when
// MONGODB_URI is set.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer, APP_ID } from "./server.mjs";

const stores = [["the embedded store", { embedded: true }]];
if (process.env.MONGODB_URI) stores.push(["MongoDB", {}]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function nextWithin(iterator, ms) {
  return Promise.race([
    iterator.next(),
    sleep(ms).then(() => ({ timeout: true })),
  ]);
}

for (const [store, options] of stores) {
  describe(`watch on ${store}`, () => {
    let server;
    let watcher;
    let writer;

    before(async () => {
      server = await startServer(options);
      const app = new Realm.App({ id: APP_ID, baseUrl: server.url });
      watcher = await app.logIn(Realm.Credentials.anonymous(false));
      writer = await app.logIn(Realm.Credentials.anonymous(false));
    });

    after(async () => {
      if (server) await server.stop();
    });

    test("watch delivers only the events the watching user may see", async () => {
      const items = watcher.mongoClient("mongodb-atlas").db("todo").collection("items");
      const stream = items.watch();
      const first = stream.next(); // opens the stream
      await sleep(700);
      // another user's private item: never seen; their public item: seen without its secret field
      const hidden = await writer.functions.addItem({ title: "private", public: false, secret: "s1" });
      const shown = await writer.functions.addItem({ title: "public", public: true, secret: "s2" });
      const { value: inserted } = await Promise.race([first, sleep(10000).then(() => ({ value: "timeout" }))]);
      assert.notEqual(inserted, "timeout", "an event arrives");
      assert.equal(inserted.operationType, "insert");
      assert.equal(String(inserted.documentKey._id), String(shown));
      assert.deepEqual(Object.keys(inserted.fullDocument).sort(), ["_id", "owner_id", "public", "title"]);
      assert.equal(inserted.fullDocument.title, "public");
      // an update of the hidden item: not seen; of the shown item: seen, hidden fields left out
      await writer.functions.setItem(hidden, { title: "still private" });
      await writer.functions.setItem(shown, { title: "renamed", secret: "s3" });
      const { value: updated } = await nextWithin(stream, 10000);
      assert.equal(updated.operationType, "update");
      assert.equal(String(updated.documentKey._id), String(shown));
      assert.equal(updated.fullDocument.title, "renamed");
      assert.equal(updated.fullDocument.secret, undefined);
      assert.deepEqual(updated.updateDescription.updatedFields, { title: "renamed" });
      // deletes: the hidden one is not seen, the shown one is
      await writer.functions.removeItem(hidden);
      await writer.functions.removeItem(shown);
      const { value: deleted } = await nextWithin(stream, 10000);
      assert.equal(deleted.operationType, "delete");
      assert.equal(String(deleted.documentKey._id), String(shown));
      await stream.return();
    });

    test("the owner sees their own items whole", async () => {
      const items = writer.mongoClient("mongodb-atlas").db("todo").collection("items");
      const stream = items.watch();
      const first = stream.next();
      await sleep(700);
      const id = await writer.functions.addItem({ title: "mine", public: false, secret: "mine too" });
      const { value } = await Promise.race([first, sleep(10000).then(() => ({ value: "timeout" }))]);
      assert.notEqual(value, "timeout");
      assert.equal(String(value.documentKey._id), String(id));
      assert.equal(value.fullDocument.secret, "mine too");
      await stream.return();
    });

    test("watch with ids sees the changes to those documents only", async () => {
      const items = watcher.mongoClient("mongodb-atlas").db("todo").collection("items");
      const a = await writer.functions.addItem({ title: "a", public: true, secret: "sa" });
      const b = await writer.functions.addItem({ title: "b", public: true, secret: "sb" });
      const stream = items.watch({ ids: [b] });
      const first = stream.next();
      await sleep(700);
      await writer.functions.setItem(a, { title: "a2" });
      await writer.functions.setItem(b, { title: "b2" });
      const { value } = await Promise.race([first, sleep(10000).then(() => ({ value: "timeout" }))]);
      assert.notEqual(value, "timeout");
      assert.equal(String(value.documentKey._id), String(b));
      assert.equal(value.fullDocument.title, "b2");
      await stream.return();
    });

    test("watching a collection without rules is refused", async () => {
      const other = watcher.mongoClient("mongodb-atlas").db("todo").collection("no_rules_here");
      const stream = other.watch();
      await assert.rejects(stream.next(), (e) => {
        assert.equal(e.statusCode, 403);
        assert.equal(e.errorCode, "NoMatchingRuleFound");
        return true;
      });
    });
  });
}
