// The email/password reset function: the first argument is what App Services passes
// ({username, password, token, tokenId, currentPasswordValid}), then the client's arguments.
// It accepts the new password when the client answers the security question.
exports = function ({ username }, answer) {
  if (answer === "the answer is 42") return { status: "success" };
  if (answer === "later") return { status: "pending" };
  return { status: "fail" };
};
