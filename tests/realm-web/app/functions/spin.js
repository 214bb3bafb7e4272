// Never returns (the request time limit's test).
exports = function () {
  for (;;) {}
};
