// Application authentication: the rules let the caller read only their own items.
exports = async function () {
  const items = context.services.get("mongodb-atlas").db("notes").collection("items");
  const found = await items.find({}).toArray();
  return found.map((d) => d.label).sort();
};
