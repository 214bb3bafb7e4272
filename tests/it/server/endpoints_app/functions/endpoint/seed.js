// Inserts an item for the owner the query names (system: rules bypassed).
exports = async function ({ query }) {
  const items = context.services.get("mongodb-atlas").db("notes").collection("items");
  await items.insertOne({ owner_id: query.owner, label: query.label });
  if (query.custom) {
    await context.services.get("mongodb-atlas").db("notes").collection("users")
      .insertOne({ user_id: query.owner, nickname: query.custom });
  }
  return true;
};
