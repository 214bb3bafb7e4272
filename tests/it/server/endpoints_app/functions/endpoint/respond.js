// Sets the whole response itself.
exports = function ({ query, body }, response) {
  if (query.bad) response.setStatusCode(42);
  response.setStatusCode(201);
  response.setHeader("X-Kind", "first");
  response.setHeader("x-kind", "second");
  response.addHeader("X-Extra", "a");
  response.addHeader("X-Extra", "b");
  response.setHeader("Content-Type", "text/plain");
  response.setHeader("Content-Length", "9999");
  response.setBody("created: " + (body === undefined ? "" : body.text()));
  if (query.binary) response.setBody(new BSON.Binary(new Uint8Array([104, 105])));
  return "ignored";
};
