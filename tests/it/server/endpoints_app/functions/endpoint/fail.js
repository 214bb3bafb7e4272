exports = function () {
  throw new Error("the endpoint function gave up");
};
