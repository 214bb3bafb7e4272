// Its arguments as the server received them, in canonical Extended JSON.
exports = function (...args) {
  return EJSON.stringify(args, { relaxed: false });
};
