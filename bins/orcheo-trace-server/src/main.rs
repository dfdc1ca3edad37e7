//! `orcheo-trace-server`: the Orcheo Trace server and its command-line tools.

mod cli;
mod commands;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => commands::serve::run(&args),
        cli::Command::Demo(args) => commands::demo::run(&args),
        cli::Command::Normalize(args) => commands::normalize::run(&args),
        cli::Command::Migrate(args) => commands::migrate::run(&args),
        cli::Command::Export(args) => commands::export::run(&args),
        cli::Command::Reindex(args) => commands::reindex::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, the whole cause chain: scripts read it, people grep it. Some causes
            // (regex syntax errors) format themselves over several lines.
            let message = format!("{error:#}");
            let message: Vec<&str> = message.split_whitespace().collect();
            let _ = writeln!(
                std::io::stderr(),
                "orcheo-trace-server: {}",
                message.join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
