// Runs before a new user exists: creates their custom user data document.
exports = async function (user) {
  const users = context.services.get("mongodb-atlas").db("todo").collection("users");
  await users.insertOne({ user_id: user.id, language: "en", nickname: "" });
};
