//! `expanse eval EXPR.json [--context CONTEXT.json] [--roots DOCS.jsonl] [--explain] [--kind KIND]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{read_file, EXIT_INVALID};
use crate::expr::{BindingsData, ExprKind, Expression};
use crate::json;
use crate::Location;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The expression (JSON, Extended JSON values allowed).
    expr: PathBuf,
    /// Context object: user, root, prevRoot, this, prev, args, values, environment, request, partition.
    #[arg(long)]
    context: Option<PathBuf>,
    /// Evaluate once per line of this JSON Lines file, the line's document being %%root.
    #[arg(long)]
    roots: Option<PathBuf>,
    /// Print, on stderr, each sub-expression with the values it saw and its result.
    #[arg(long)]
    explain: bool,
    /// Where the expression is used, which decides the expansions it may use.
    #[arg(
        long,
        default_value = "any",
        value_parser = clap::builder::PossibleValuesParser::new(ExprKind::ALL.iter().map(|(name, _)| *name))
    )]
    kind: String,
}

/// The kind named on the command line (clap has already refused any other name).
fn kind_named(name: &str) -> ExprKind {
    ExprKind::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(ExprKind::Any, |(_, kind)| *kind)
}

pub fn run(args: EvalArgs) -> ExitCode {
    match evaluate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn evaluate(args: &EvalArgs) -> Result<(), String> {
    let expr_name = args.expr.display().to_string();
    let expression = Expression::parse(&read_file(&args.expr)?, &expr_name, kind_named(&args.kind))
        .map_err(|e| e.to_string())?;
    if expression.calls_functions() {
        eprintln!(
            "warning: {expr_name}: the expression calls %function, which `expanse eval` cannot run (it loads no app): every %function member evaluates to false; test it with `expanse test` against the app"
        );
    }

    let mut context = match &args.context {
        Some(path) => {
            let name = path.display().to_string();
            let json = json::parse(&read_file(path)?, &name).map_err(|e| e.to_string())?;
            BindingsData::from_json(&json).map_err(|e| e.to_string())?
        }
        None => BindingsData::default(),
    };

    let roots = match &args.roots {
        Some(path) => Some(read_roots(path)?),
        None => None,
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut decide = |context: &BindingsData, label: Option<&str>| -> Result<(), String> {
        let ctx = context.context();
        let result = if args.explain {
            let explanation = expression.explain(&ctx);
            if let Some(label) = label {
                eprintln!("{label}:");
            }
            eprintln!("{explanation}");
            explanation.result
        } else {
            expression.evaluate(&ctx)
        };
        writeln!(out, "{result}").map_err(|e| format!("cannot write output: {e}"))
    };
    match roots {
        None => decide(&context, None)?,
        Some(documents) => {
            for (line, doc) in documents {
                context.root = Some(doc);
                decide(&context, Some(&format!("root at line {line}")))?;
            }
        }
    }
    Ok(())
}

/// Reads a JSON Lines file of documents; blank lines are skipped. Errors name file:line:col.
fn read_roots(path: &std::path::Path) -> Result<Vec<(usize, bson::Document)>, String> {
    let name = path.display().to_string();
    let text = read_file(path)?;
    let mut documents = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let located = |e: json::JsonError| {
            let at = Location::new(e.at.file.clone(), line_number, e.at.col);
            format!("{at}: {}", e.message)
        };
        let json = json::parse(line, &name).map_err(located)?;
        documents.push((line_number, json::to_document(&json).map_err(located)?));
    }
    Ok(documents)
}
