// The BSON type of each argument as the server received it ($type names).
exports = function (...args) {
  const kind = (v) => {
    if (v === null) return "null";
    if (v === undefined) return "undefined";
    if (typeof v === "string") return "string";
    if (typeof v === "boolean") return "bool";
    if (typeof v === "number") return "int";
    if (v instanceof BSON.Double) return "double";
    if (v instanceof BSON.Int32) return "int";
    if (v instanceof BSON.Long) return "long";
    if (v instanceof BSON.Decimal128) return "decimal";
    if (v instanceof BSON.ObjectId) return "objectId";
    if (v instanceof Date) return "date";
    if (v instanceof RegExp || v instanceof BSON.BSONRegExp) return "regex";
    if (v instanceof BSON.Binary) return "binData";
    if (v instanceof BSON.Timestamp) return "timestamp";
    if (v instanceof BSON.MinKey) return "minKey";
    if (v instanceof BSON.MaxKey) return "maxKey";
    if (v instanceof BSON.Code) return "javascript";
    if (v instanceof BSON.BSONSymbol) return "symbol";
    if (Array.isArray(v)) return "array";
    return "object";
  };
  return args.map((v) => (typeof v === "number" && !Number.isInteger(v) ? "double" : kind(v)));
};
