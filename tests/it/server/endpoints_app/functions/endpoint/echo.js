// Application authentication: what the function received, and who called.
exports = async function ({ query, headers, body }, response) {
  return {
    query,
    accept: headers["Accept"] ?? null,
    credentialHeaders: ["Authorization", "JwtTokenString", "Jwttokenstring"].filter((h) => h in headers),
    body: body === undefined ? null : body.text(),
    user: context.user.id,
    customData: context.user.custom_data,
    system: context.runningAsSystem(),
    hasResponse: typeof response.setStatusCode === "function",
  };
};
