// A trivial function (the benchmark's).
exports = function (a, b) {
  return a + b;
};
