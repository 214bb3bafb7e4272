// The custom-function provider's authentication function: the client's payload in, the
// user's external id out; a throw refuses the login with its message.
exports = function (payload) {
  if (payload.pin !== "1234") throw new Error("wrong pin");
  if (typeof payload.externalId !== "string") throw new Error("no externalId");
  return payload.name ? { id: payload.externalId, name: payload.name } : payload.externalId;
};
