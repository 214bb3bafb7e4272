// Runs as the caller: the rules decide what it sees.
exports = async function () {
  const items = context.services.get("mongodb-atlas").db("todo").collection("items");
  return items.count({});
};
