exports = async function (id, fields) {
  const items = context.services.get("mongodb-atlas").db("todo").collection("items");
  return (await items.updateOne({ _id: id }, { $set: fields })).modifiedCount;
};
