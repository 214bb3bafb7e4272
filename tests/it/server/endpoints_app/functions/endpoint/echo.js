// Application authentication: what the function received, and who called.
exports = async function ({ query, headers, body }, response) {
  return {
    query,
    accept: headers["Accept"] ?? null,
    credentialHeaders: Object.keys(headers).concat(Object.keys(context.request.requestHeaders))
      .filter((h) => ["authorization", "cookie", "password", "apikey", "jwttokenstring"].includes(h.toLowerCase())),
    body: body === undefined ? null : body.text(),
    user: context.user.id,
    customData: context.user.custom_data,
    system: context.runningAsSystem(),
    hasResponse: typeof response.setStatusCode === "function",
  };
};
