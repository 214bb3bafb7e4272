// Custom user data written for the user by a system function (users cannot write "language").
exports = async function (language) {
  const users = context.services.get("mongodb-atlas").db("todo").collection("users");
  const result = await users.updateOne({ user_id: context.user.id }, { $set: { language } });
  return result.matchedCount === 1;
};
