exports = async function (id) {
  const items = context.services.get("mongodb-atlas").db("todo").collection("items");
  return (await items.deleteOne({ _id: id })).deletedCount;
};
