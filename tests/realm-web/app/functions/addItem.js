// Writes as the caller: the rules decide.
exports = async function (item) {
  const items = context.services.get("mongodb-atlas").db("todo").collection("items");
  return (await items.insertOne({ ...item, owner_id: context.user.id })).insertedId;
};
