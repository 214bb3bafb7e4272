exports = function () {
  return "private";
};
