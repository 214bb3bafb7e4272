// System authentication: no credentials needed.
exports = function ({ query, headers, body }) {
  return {
    query,
    contentType: headers["Content-Type"] ?? null,
    body: body === undefined ? null : body.text(),
    system: context.runningAsSystem(),
    rawQueryString: context.request.rawQueryString,
  };
};
