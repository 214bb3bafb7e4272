//! The `expanse` command line: a thin layer over the library.

mod check;
mod eval;
mod run;
mod serve;
mod test;
mod token;
mod triggers;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Expanse: App Services rules, custom user data and functions on your own MongoDB.
#[derive(Debug, Parser)]
#[command(name = "expanse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate one rule expression against a context (and optionally many documents).
    Eval(eval::EvalArgs),
    /// Validate an exported App Services app and warn about likely mistakes (exit 1 on errors).
    Check(check::CheckArgs),
    /// Run rule fixtures (`*.test.json`) on the embedded store or a real MongoDB.
    #[command(
        after_help = "Exit codes: 0 every test passed; 1 some test failed; 2 a fixture is invalid (reported with file:line:col)."
    )]
    Test(test::TestArgs),
    /// Issue an access/refresh token pair for a user, or verify a token.
    Token(token::TokenArgs),
    /// Run an app function (system by default, or as a user) on the embedded store or MongoDB.
    Run(run::RunArgs),
    /// Run an app's database and scheduled triggers on MongoDB (`status`, `resume` subcommands).
    Triggers(triggers::TriggersArgs),
    /// Manage the users store (import an App Services user export).
    Users(users::UsersArgs),
    /// Serve the App Services client HTTP API (realm-web and the Realm SDKs) over the app.
    Serve(serve::ServeArgs),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Check(args) => check::run(args),
        Command::Test(args) => test::run(args),
        Command::Token(args) => token::run(args),
        Command::Run(args) => run::run(args),
        Command::Triggers(args) => triggers::run(args),
        Command::Users(args) => users::run(args),
        Command::Serve(args) => serve::run(args),
    }
}

/// How many threads a command's async runtime needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Threads {
    /// One (the command awaits one thing at a time).
    One,
    /// Two workers (functions may wait on other functions and the database at once).
    Two,
}

/// The async runtime every command runs on, built one way.
pub(crate) fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Two => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Exit code for invalid input (files, JSON, expressions).
pub(crate) const EXIT_INVALID: u8 = 2;

/// Reads a file, mapping failure to a message that names it.
pub(crate) fn read_file(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}:1:1: cannot read file: {e}", path.display()))
}

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM: long-running commands stop gracefully.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
