// A return value with types JSON and Extended JSON write differently.
exports = function () {
  return { when: new Date(0), count: BSON.Long.fromNumber(5), id: new BSON.ObjectId("5f1f1f1f1f1f1f1f1f1f1f1f") };
};
