//! The pest grammar (`grammar/expression.pest`): JSON with positions, expansion paths and
//! operator keys.

/// The generated parser.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expression.pest"]
pub struct ExpressionGrammar;
