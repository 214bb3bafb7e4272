//! Rule-expression behaviour: every documented example of App Services' rule-expression documentation, and each
//! decision of the design pinned by a test.

use bson::{bson, doc, oid::ObjectId, Bson, Document};
use expanse::expr::{Bindings, BindingsData, ExprKind, Expression, FunctionCaller};
use expanse::functions::Thrown;

fn compile(text: &str) -> Expression {
    Expression::parse(text, "test.json", ExprKind::Any).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Evaluates `expr` against a context given as Extended JSON.
fn eval(expr: &str, context: &str) -> bool {
    let json = expanse::json::parse(context, "context.json").unwrap();
    let data = BindingsData::from_json(&json).unwrap();
    compile(expr).evaluate(&data.context())
}

fn eval_fn(expr: &str, context: &str, functions: &dyn FunctionCaller) -> bool {
    let json = expanse::json::parse(context, "context.json").unwrap();
    let data = BindingsData::from_json(&json).unwrap();
    compile(expr).evaluate(&data.context().functions(functions))
}

struct TestFunctions;

impl FunctionCaller for TestFunctions {
    fn call(&self, name: &str, args: Vec<Bson>, _: &Bindings<'_>) -> Result<Bson, Thrown> {
        match name {
            "isAuthorizedUser" => Ok(Bson::Boolean(args.first() == Some(&bson!("u1")))),
            "returnsOne" => Ok(bson!(1)),
            "returnsTrueInArray" => Ok(bson!([true])),
            "returnsString" => Ok(bson!("true")),
            "throws" => Err("boom".into()),
            "echo" => Ok(args.into_iter().next().unwrap_or(Bson::Null)),
            other => Err(format!("function not found: {other}").into()),
        }
    }
}

// ---- documented patterns ----

#[test]
fn owner_pattern() {
    let expr = r#"{"owner_id": "%%user.id"}"#;
    assert!(eval(
        expr,
        r#"{"user": {"id": "u1"}, "root": {"owner_id": "u1"}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"user": {"id": "u2"}, "root": {"owner_id": "u1"}}"#
    ));
    assert!(!eval(expr, r#"{"user": {"id": "u1"}, "root": {}}"#));
}

#[test]
fn array_contains_user_pattern() {
    let expr = r#"{"members": "%%user.id"}"#;
    assert!(eval(
        expr,
        r#"{"user": {"id": "u1"}, "root": {"members": ["u0", "u1"]}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"user": {"id": "u9"}, "root": {"members": ["u0", "u1"]}}"#
    ));
}

#[test]
fn user_has_an_email_pattern() {
    let expr = r#"{"%%user.data.email": {"%exists": true}}"#;
    assert!(eval(
        expr,
        r#"{"user": {"id": "u1", "data": {"email": "a@x"}}}"#
    ));
    assert!(!eval(expr, r#"{"user": {"id": "u1", "data": {}}}"#));
}

#[test]
fn document_email_equals_user_email_pattern() {
    let expr = r#"{"%%root.email": "%%user.data.email"}"#;
    assert!(eval(
        expr,
        r#"{"user": {"data": {"email": "a@x"}}, "root": {"email": "a@x"}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"user": {"data": {"email": "a@x"}}, "root": {"email": "b@x"}}"#
    ));
}

#[test]
fn function_gate_pattern() {
    let expr =
        r#"{"%%true": {"%function": {"name": "isAuthorizedUser", "arguments": ["%%user.id"]}}}"#;
    assert!(eval_fn(expr, r#"{"user": {"id": "u1"}}"#, &TestFunctions));
    assert!(!eval_fn(expr, r#"{"user": {"id": "u2"}}"#, &TestFunctions));
}

#[test]
fn ip_allow_list_pattern() {
    let expr = r#"{"%%request.remoteIPAddress": {"$in": "%%values.allowedClientIPAddresses"}}"#;
    let ctx = |ip: &str| {
        format!(
            r#"{{"request": {{"remoteIPAddress": "{ip}"}}, "values": {{"allowedClientIPAddresses": ["10.0.0.1", "10.0.0.2"]}}}}"#
        )
    };
    assert!(eval(expr, &ctx("10.0.0.2")));
    assert!(!eval(expr, &ctx("10.0.0.3")));
}

#[test]
fn admin_list_pattern() {
    let expr = r#"{"%%user.id": {"$in": "%%values.admin_ids"}}"#;
    assert!(eval(
        expr,
        r#"{"user": {"id": "a"}, "values": {"admin_ids": ["a", "b"]}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"user": {"id": "c"}, "values": {"admin_ids": ["a", "b"]}}"#
    ));
    // No values at all: the list is missing, so the test fails closed.
    assert!(!eval(expr, r#"{"user": {"id": "a"}}"#));
}

#[test]
fn environment_check_pattern() {
    let expr =
        r#"{"%%environment.tag": "production", "%%environment.values.baseUrl": {"%exists": true}}"#;
    assert!(eval(
        expr,
        r#"{"environment": {"tag": "production", "values": {"baseUrl": "https://x"}}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"environment": {"tag": "development", "values": {"baseUrl": "https://x"}}}"#
    ));
    assert!(!eval(
        expr,
        r#"{"environment": {"tag": "production", "values": {}}}"#
    ));
}

#[test]
fn insert_only_write_pattern() {
    let expr = r#"{"%%prevRoot": {"%exists": false}}"#;
    assert!(eval(expr, r#"{"root": {"a": 1}}"#));
    assert!(!eval(expr, r#"{"root": {"a": 1}, "prevRoot": {"a": 0}}"#));
}

#[test]
fn immutable_once_set_schema_pattern() {
    let expr = r#"{"%or": [{"%%prev": {"%exists": false}}, {"%%prev": "%%this"}]}"#;
    assert!(eval(expr, r#"{"this": "new"}"#));
    assert!(eval(expr, r#"{"this": "same", "prev": "same"}"#));
    assert!(!eval(expr, r#"{"this": "changed", "prev": "same"}"#));
}

#[test]
fn nested_comparisons_on_a_field() {
    let expr = r#"{"%%args.someNumber": {"%and": [{"$gt": 0}, {"$lte": 42}]}}"#;
    assert!(eval(expr, r#"{"args": {"someNumber": 42}}"#));
    assert!(!eval(expr, r#"{"args": {"someNumber": 43}}"#));
    assert!(!eval(expr, r#"{"args": {"someNumber": 0}}"#));
}

#[test]
fn plain_value_matches_and_empty_object_is_true() {
    assert!(eval(
        r#"{"url": "https://www.example.com"}"#,
        r#"{"root": {"url": "https://www.example.com"}}"#
    ));
    assert!(eval("{}", "{}"));
    assert!(eval("true", "{}"));
    assert!(!eval("false", "{}"));
}

#[test]
fn manager_role_membership_on_the_value_side() {
    // ROLES: {"email": "%%user.custom_data.manages"} means "email is one of manages".
    let expr = r#"{"email": "%%user.custom_data.manages"}"#;
    let ctx = |email: &str| {
        format!(
            r#"{{"user": {{"custom_data": {{"manages": ["a@x", "b@x"]}}}}, "root": {{"email": "{email}"}}}}"#
        )
    };
    assert!(eval(expr, &ctx("b@x")));
    assert!(!eval(expr, &ctx("c@x")));
}

#[test]
fn sekund_export_apply_when_with_string_to_oid() {
    let id = ObjectId::new();
    let expr = r#"{"_id": {"%stringToOid": "%%user.custom_data._id"}}"#;
    let context = format!(
        r#"{{"user": {{"custom_data": {{"_id": "{}"}}}}, "root": {{"_id": {{"$oid": "{}"}}}}}}"#,
        id.to_hex(),
        id.to_hex()
    );
    assert!(eval(expr, &context));
    let other = format!(
        r#"{{"user": {{"custom_data": {{"_id": "{}"}}}}, "root": {{"_id": {{"$oid": "{}"}}}}}}"#,
        ObjectId::new().to_hex(),
        id.to_hex()
    );
    assert!(!eval(expr, &other));
}

// ---- Decisions: matching ----

#[test]
fn missing_is_not_null() {
    let ctx = r#"{"root": {"present": null}}"#;
    // Equality to null holds for both null and missing, as in MongoDB.
    assert!(eval(r#"{"present": null}"#, ctx));
    assert!(eval(r#"{"absent": null}"#, ctx));
    // $exists tells them apart.
    assert!(eval(r#"{"present": {"$exists": true}}"#, ctx));
    assert!(!eval(r#"{"absent": {"$exists": true}}"#, ctx));
    // Ordered comparisons never hold for missing, except $lte/$gte null.
    assert!(!eval(r#"{"absent": {"$gt": 0}}"#, ctx));
    assert!(!eval(r#"{"absent": {"$lt": 0}}"#, ctx));
    assert!(eval(r#"{"absent": {"$lte": null}}"#, ctx));
    // $ne and $nin hold for a missing subject.
    assert!(eval(r#"{"absent": {"$ne": 1}}"#, ctx));
    assert!(eval(r#"{"absent": {"$nin": [1, 2]}}"#, ctx));
}

#[test]
fn a_missing_operand_fails_closed() {
    // A user without custom_data.team must not match documents without a team.
    let expr = r#"{"team": "%%user.custom_data.team"}"#;
    assert!(!eval(
        expr,
        r#"{"user": {"id": "u1", "custom_data": {}}, "root": {}}"#
    ));
    assert!(!eval(
        r#"{"team": {"$ne": "%%user.custom_data.team"}}"#,
        r#"{"user": {"custom_data": {}}, "root": {"team": "x"}}"#
    ));
    assert!(!eval(
        r#"{"team": {"$nin": "%%values.teams"}}"#,
        r#"{"root": {"team": "x"}}"#
    ));
}

#[test]
fn membership_in_both_directions() {
    assert!(eval(
        r#"{"tags": "red"}"#,
        r#"{"root": {"tags": ["blue", "red"]}}"#
    ));
    assert!(eval(
        r#"{"tag": "%%values.colors"}"#,
        r#"{"values": {"colors": ["blue", "red"]}, "root": {"tag": "red"}}"#
    ));
    // Whole-array equality still holds.
    assert!(eval(
        r#"{"tags": ["blue", "red"]}"#,
        r#"{"root": {"tags": ["blue", "red"]}}"#
    ));
    assert!(!eval(
        r#"{"tags": ["red", "blue"]}"#,
        r#"{"root": {"tags": ["blue", "red"]}}"#
    ));
}

#[test]
fn object_id_never_equals_its_hex_string() {
    let id = "5f1f1f1f1f1f1f1f1f1f1f1f";
    let ctx = format!(
        r#"{{"user": {{"id": "{id}"}}, "root": {{"_id": {{"$oid": "{id}"}}, "owner": "{id}"}}}}"#
    );
    assert!(!eval(r#"{"_id": "%%user.id"}"#, &ctx));
    assert!(eval(r#"{"_id": {"%stringToOid": "%%user.id"}}"#, &ctx));
    assert!(eval(r#"{"owner": {"%oidToString": "%%root._id"}}"#, &ctx));
}

#[test]
fn cross_type_comparisons_follow_mongodb() {
    let ctx = r#"{"root": {"n": 5, "s": "5", "d": {"$date": "2024-01-01T00:00:00Z"}, "l": {"$numberLong": "5"}, "f": 5.0}}"#;
    assert!(
        !eval(r#"{"s": {"$gt": 1}}"#, ctx),
        "strings never compare with numbers"
    );
    assert!(!eval(r#"{"n": {"$lt": "a"}}"#, ctx));
    assert!(
        eval(r#"{"n": {"$eq": "%%root.l"}}"#, ctx),
        "int32 equals int64"
    );
    assert!(eval(r#"{"f": "%%root.n"}"#, ctx), "double equals int");
    assert!(!eval(r#"{"s": "%%root.n"}"#, ctx));
    assert!(eval(
        r#"{"d": {"$gt": {"$date": "2023-01-01T00:00:00Z"}}}"#,
        ctx
    ));
    assert!(!eval(r#"{"d": {"$gt": 0}}"#, ctx));
}

#[test]
fn every_operator_spelling() {
    let ctx = r#"{"root": {"n": 5}}"#;
    for (op, operand, expected) in [
        ("%eq", "5", true),
        ("$eq", "5", true),
        ("%neq", "5", false),
        ("%ne", "4", true),
        ("$ne", "5", false),
        ("%gt", "4", true),
        ("$gt", "5", false),
        ("%gte", "5", true),
        ("$gte", "6", false),
        ("%lt", "6", true),
        ("$lt", "5", false),
        ("%lte", "5", true),
        ("$lte", "4", false),
        ("%in", "[1, 5]", true),
        ("$in", "[1]", false),
        ("%nin", "[1]", true),
        ("$nin", "[5]", false),
        ("%exists", "true", true),
        ("$exists", "false", false),
    ] {
        let expr = format!(r#"{{"n": {{"{op}": {operand}}}}}"#);
        assert_eq!(eval(&expr, ctx), expected, "{expr}");
    }
    for (op, expected) in [
        ("%and", false),
        ("$and", false),
        ("%or", true),
        ("$or", true),
    ] {
        let expr = format!(r#"{{"{op}": [{{"n": 5}}, {{"n": 6}}]}}"#);
        assert_eq!(eval(&expr, ctx), expected, "{expr}");
    }
}

#[test]
fn extensions_follow_query_semantics() {
    let ctx = r#"{"root": {"tags": ["a", "b"], "n": 7, "name": "Alice"}}"#;
    assert!(eval(r#"{"tags": {"$size": 2}}"#, ctx));
    assert!(eval(r#"{"tags": {"$all": ["b", "a"]}}"#, ctx));
    assert!(eval(r#"{"n": {"$mod": [4, 3]}}"#, ctx));
    assert!(eval(r#"{"n": {"$type": "number"}}"#, ctx));
    assert!(eval(r#"{"name": {"$regex": "^al", "$options": "i"}}"#, ctx));
    assert!(eval(r#"{"n": {"$not": {"$gt": 10}}}"#, ctx));
    assert!(eval(r#"{"$nor": [{"n": 1}, {"n": 2}]}"#, ctx));
    assert!(eval(r#"{"tags": {"$elemMatch": {"$eq": "b"}}}"#, ctx));
    let expression = compile(r#"{"tags": {"$size": 2}, "n": {"$gt": 1}}"#);
    assert_eq!(
        expression.extensions().len(),
        1,
        "only $size is an extension"
    );
}

// ---- %function ----

#[test]
fn only_exactly_true_counts_from_a_function() {
    for (name, expected) in [
        ("returnsOne", false),
        ("returnsTrueInArray", false),
        ("returnsString", false),
        ("isAuthorizedUser", true),
    ] {
        let expr = format!(
            r#"{{"%%true": {{"%function": {{"name": "{name}", "arguments": ["%%user.id"]}}}}}}"#
        );
        assert_eq!(
            eval_fn(&expr, r#"{"user": {"id": "u1"}}"#, &TestFunctions),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_throwing_or_missing_function_makes_the_expression_false() {
    let expr = r#"{"%%true": {"%function": {"name": "throws"}}}"#;
    assert!(!eval_fn(expr, "{}", &TestFunctions));
    let explanation = compile(expr).explain(&Bindings::new().functions(&TestFunctions));
    assert!(explanation.to_string().contains("boom"), "{explanation}");
    // No function runtime at all: false, not a panic.
    assert!(!eval(expr, "{}"));
    assert!(!eval_fn(
        r#"{"%%true": {"%function": {"name": "nope"}}}"#,
        "{}",
        &TestFunctions
    ));
}

#[test]
fn function_results_compare_like_values() {
    let expr = r#"{"owner": {"%function": {"name": "echo", "arguments": ["%%user.id"]}}}"#;
    assert!(eval_fn(
        expr,
        r#"{"user": {"id": "u1"}, "root": {"owner": "u1"}}"#,
        &TestFunctions
    ));
    assert!(!eval_fn(
        expr,
        r#"{"user": {"id": "u1"}, "root": {"owner": "u2"}}"#,
        &TestFunctions
    ));
}

// ---- conversions ----

#[test]
fn uuid_conversions_round_trip() {
    let uuid = "0d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d";
    let ctx = format!(r#"{{"root": {{"u": {{"$uuid": "{uuid}"}}, "s": "{uuid}"}}}}"#);
    assert!(eval(r#"{"u": {"%stringToUuid": "%%root.s"}}"#, &ctx));
    assert!(eval(r#"{"s": {"%uuidToString": "%%root.u"}}"#, &ctx));
    // A bad input fails closed.
    assert!(!eval(r#"{"u": {"%stringToUuid": "not-a-uuid"}}"#, &ctx));
    assert!(!eval(
        r#"{"_id": {"%stringToOid": "xyz"}}"#,
        r#"{"root": {"_id": 1}}"#
    ));
}

// ---- injection: values are data ----

#[test]
fn operator_looking_values_are_compared_literally() {
    // Custom data carrying an operator object must not widen a match.
    let expr = r#"{"owner": "%%user.custom_data.owner"}"#;
    let ctx =
        r#"{"user": {"custom_data": {"owner": {"$ne": null}}}, "root": {"owner": "someone"}}"#;
    assert!(!eval(expr, ctx));
    // Nor an expansion-looking string.
    let ctx = r#"{"user": {"id": "%%root.owner", "custom_data": {}}, "root": {"owner": "x"}}"#;
    assert!(!eval(r#"{"owner": "%%user.id"}"#, ctx));
    // A regex value in data is compared as a value, never run as a pattern.
    let ctx = r#"{"values": {"allowed": [{"$regularExpression": {"pattern": ".*", "options": ""}}]}, "root": {"name": "x"}}"#;
    assert!(!eval(r#"{"name": {"$in": "%%values.allowed"}}"#, ctx));
}

// ---- compile-time checks ----

fn errors(text: &str, kind: ExprKind) -> String {
    match Expression::parse(text, "rule.json", kind) {
        Ok(_) => panic!("{text} compiled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_expansions_and_operators_suggest_the_nearest_name() {
    assert_eq!(
        errors(r#"{"owner": "%%usr.id"}"#, ExprKind::Any),
        "rule.json:1:11: unknown expansion %%usr (did you mean %%user.id?)"
    );
    let e = errors(r#"{"user_id": "%%user.id%%"}"#, ExprKind::Any);
    assert!(e.contains("did you mean %%user.id?"), "{e}");
    let e = errors("{\n  \"n\": {\"%gtee\": 1}\n}", ExprKind::Any);
    assert!(
        e.starts_with("rule.json:2:9: unknown operator %gtee (did you mean %gte?)"),
        "{e}"
    );
    let e = errors(r#"{"%%user.custom": 1}"#, ExprKind::Any);
    assert!(e.contains("did you mean %%user.custom_data?"), "{e}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let e = errors(
        r#"{"a": "%%usr.id", "b": {"%gtee": 1}, "c": {"%function": {"nam": "f"}}}"#,
        ExprKind::Any,
    );
    assert_eq!(e.lines().count(), 4, "{e}");
}

#[test]
fn expansions_are_checked_against_where_the_expression_is_used() {
    let e = errors(
        r#"{"%%root.owner": "%%user.id"}"#,
        ExprKind::FilterApplyWhen,
    );
    assert!(e.contains("do not know how to expand '%%root'"), "{e}");
    let e = errors(r#"{"owner": "%%user.id"}"#, ExprKind::FilterApplyWhen);
    assert!(e.contains("plain field \"owner\""), "{e}");
    let e = errors(r#"{"%%args.x": 1}"#, ExprKind::RolePermission);
    assert!(e.contains("%%args exists only in service rules"), "{e}");
    let e = errors(r#"{"%%this": 1}"#, ExprKind::RoleApplyWhen);
    assert!(e.contains("'%%this'"), "{e}");
    let e = errors(
        r#"{"%%true": {"%function": {"name": "f"}}}"#,
        ExprKind::SyncPermission,
    );
    assert!(e.contains("%function cannot be used"), "{e}");
    // Service rules read plain keys from %%args.
    let rule = Expression::parse(r#"{"x": 1}"#, "r.json", ExprKind::ServiceRule).unwrap();
    let args = doc! {"x": 1};
    assert!(rule.evaluate(&Bindings::new().args(&args)));
}

#[test]
fn malformed_expressions_are_errors() {
    for (text, needle) in [
        ("[1]", "must be true, false or an object"),
        (r#"{"%in": [1]}"#, "needs a subject"),
        (r#"{"%or": {}}"#, "takes an array"),
        (r#"{"%or": []}"#, "at least one"),
        (r#"{"n": {"$gt": 1, "x": 2}}"#, "not an operator"),
        (r#"{"n": {"$in": 5}}"#, "takes an array"),
        (
            r#"{"n": {"%stringToOid": {"%oidToString": "x"}}}"#,
            "does not evaluate nested operators",
        ),
        (r#"{"n": {"$size": "%%user.id"}}"#, "literal operand"),
        (r#"{"n": {"$mod": [0, 1]}}"#, "divisor cannot be 0"),
        (r#"{"a": 1, "a": 2}"#, "duplicate key"),
        (r#"{"n": {"$gt": {"$eq": 1}}}"#, "cannot be used as a value"),
    ] {
        let e = errors(text, ExprKind::Any);
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn identity_provider_type_accepts_the_documented_spelling() {
    let ctx = r#"{"user": {"identities": [{"id": "x", "provider_type": "local-userpass"}]}}"#;
    assert!(eval(
        r#"{"%%user.identities.providerType": "local-userpass"}"#,
        ctx
    ));
    assert!(eval(
        r#"{"%%user.identities.provider_type": "local-userpass"}"#,
        ctx
    ));
}

#[test]
fn dotted_expansion_paths_index_arrays() {
    let ctx = r#"{"user": {"custom_data": {"prefs": [{"lang": "fr"}, {"lang": "de"}]}}}"#;
    assert!(eval(r#"{"%%user.custom_data.prefs.0.lang": "fr"}"#, ctx));
    assert!(eval(r#"{"%%user.custom_data.prefs.lang": "de"}"#, ctx));
    assert!(!eval(r#"{"%%user.custom_data.prefs.1.lang": "fr"}"#, ctx));
}

#[test]
fn explanation_names_every_sub_expression_with_values() {
    let expr = compile("{\"%or\": [{\"owner_id\": \"%%user.id\"}, {\"shared\": true}]}");
    let user = doc! {"id": "u1"};
    let root: Document = doc! {"owner_id": "u2", "shared": false};
    let explanation = expr.explain(&Bindings::new().user(&user).root(&root));
    assert!(!explanation.result);
    assert_eq!(explanation.lines.len(), 3);
    let text = explanation.to_string();
    assert!(text.contains("%%root.owner_id = \"u2\""), "{text}");
    assert!(text.contains("%%user.id = \"u1\""), "{text}");
}
