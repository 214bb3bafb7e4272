exports = function () {
  return { id: context.user.id, type: context.user.type, custom_data: context.user.custom_data };
};
