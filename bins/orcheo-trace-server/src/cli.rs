//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Orcheo Trace: workflow tracing for the Orcheo LLM workflow orchestrator.
#[derive(Debug, Parser)]
#[command(name = "orcheo-trace-server", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the trace API server: traces by execution id, executions, artifacts, `/healthz`,
    /// `/readyz`, `/metrics` and the OpenAPI document at `/api/openapi.json`.
    ///
    /// Every option is also an environment variable (shown with each). Defaults are the
    /// embedded set-up: SQLite in the working directory, traces from the server's own span
    /// store, loopback only and no authentication.
    Serve(Box<orcheo_trace_server::config::ServeArgs>),

    /// Run the server on its embedded defaults, run three demo workflows through the
    /// instrumentation (exporting OTLP to the server itself), print where to see their traces,
    /// and keep serving.
    ///
    /// Takes the same options as `serve`; the trace backend must be `embedded` and the OTLP/gRPC
    /// receiver on.
    Demo(Box<orcheo_trace_server::config::ServeArgs>),

    /// Read a trace payload (Tempo, Jaeger or OTLP) and print its normalized span tree as JSON.
    ///
    /// Anomalies (orphans, duplicate ids, cycles, clock skew, unreadable spans) are listed in
    /// the output; only a payload that cannot be decoded at all makes the command fail.
    Normalize(NormalizeArgs),

    /// Create or upgrade the metadata database's tables (SQLite or PostgreSQL).
    ///
    /// Safe to run any number of times: it applies only the migrations the database lacks, and
    /// says which.
    Migrate(MigrateArgs),

    /// Write an execution's trace to a file (or standard output) for an audit: JSON, the
    /// execution and its whole span tree; or CSV, a row per span. With `--all`, every execution
    /// the filters match instead, newest first.
    ///
    /// Reads the trace as the server would, with the same options as `serve` for the database,
    /// the trace backend and redaction; as an operator's tool it sees every tenant's executions.
    /// A trace the store cannot serve whole (only span summaries are left) is not exported: a
    /// single export fails; with `--all`, the run is listed under `unavailable` in JSON, has no
    /// rows in CSV, and is named on standard error.
    Export(Box<ExportArgs>),

    /// Index executions for the executions search (`GET /api/executions?q=`): those that have
    /// no search rows yet, such as runs received before this version, or every one with
    /// `--all`.
    ///
    /// Reads each finished run's trace as the server would, with the same options as `serve`
    /// for the database, the trace backend and redaction, and replaces its search rows with
    /// what the tree shows (redacted as the API shows it). Runs still running are left to the
    /// server, which indexes spans as they arrive. A run whose trace cannot be read whole (only
    /// span summaries are left, or the trace store does not answer) is named on standard error,
    /// and the command fails after trying the others. It may run beside the server, and again
    /// (a span that reaches a finished run while its rows are replaced is left out until
    /// `reindex --all`).
    Reindex(Box<ReindexArgs>),
}

#[derive(Debug, Args)]
pub(crate) struct ReindexArgs {
    /// Every execution, not only those without search rows (their rows are replaced).
    #[arg(long)]
    pub(crate) all: bool,

    #[command(flatten)]
    pub(crate) server: Box<orcheo_trace_server::config::ServeArgs>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The execution whose trace to export.
    #[arg(value_name = "EXECUTION_ID", required_unless_present = "all")]
    pub(crate) execution_id: Option<String>,

    /// Export every execution the filters below match (all, without filters), newest first: a
    /// JSON `orcheo-trace-export-set` document (each execution's export, the runs whose trace
    /// could not be had whole under `unavailable`, and `truncated`), or one CSV header and a
    /// row per span of every execution.
    #[arg(long, conflicts_with = "execution_id")]
    pub(crate) all: bool,

    #[command(flatten)]
    pub(crate) filters: ExportFilters,

    /// `json`: the execution and its whole span tree, nested; `csv`: a header row, then a row
    /// per span (ids, parent, name, kind, times, duration, status, error, model, tokens).
    #[arg(long, default_value = "json", value_parser = parse_export_format)]
    pub(crate) format: orcheo_trace_service::ExportFormat,

    /// Write here instead of standard output (replaced if it exists).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Leave prompt, response and message text out of a JSON export (counts and markers stay).
    #[arg(long)]
    pub(crate) without_content: bool,

    #[command(flatten)]
    pub(crate) server: Box<orcheo_trace_server::config::ServeArgs>,
}

/// Which executions `export --all` writes: the filters of `GET /api/executions`.
#[derive(Debug, Args)]
pub(crate) struct ExportFilters {
    /// Only this workflow's executions (its exact id).
    #[arg(long, value_name = "ID")]
    pub(crate) workflow_id: Option<String>,

    /// Only workflows whose id starts with this text.
    #[arg(long, value_name = "TEXT")]
    pub(crate) workflow_prefix: Option<String>,

    /// Only executions in this state: `running`, `completed`, `error` or `cancelled`.
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Option<String>,

    /// Only executions started at or after this time (RFC 3339, `2026-12-01T00:00:00Z`).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,

    /// Only executions started before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,

    /// Only this tenant's executions (every tenant's without it).
    #[arg(long, value_name = "TENANT")]
    pub(crate) tenant: Option<String>,

    /// Only executions whose spans hold these words, as a phrase: names, node ids, errors,
    /// attribute values, prompts, responses and messages (the search of `GET /api/executions`).
    #[arg(long, value_name = "WORDS")]
    pub(crate) text: Option<String>,

    /// Only executions any of whose spans called this model (its exact name).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: Option<String>,

    /// Only executions any of whose spans failed with this error type or code (exactly).
    #[arg(long, value_name = "TYPE")]
    pub(crate) error_type: Option<String>,

    /// Executions written at most, 1..=10000 (default 1000); when more match, the export stops
    /// there and says so (JSON: `"truncated": true`; and on standard error).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(orcheo_trace_server::export_set::MAX_EXECUTIONS)))]
    pub(crate) max_executions: Option<u32>,
}

impl ExportFilters {
    /// Whether any filter was given (they need `--all`).
    pub(crate) fn any(&self) -> bool {
        let Self {
            workflow_id,
            workflow_prefix,
            status,
            since,
            until,
            tenant,
            text,
            model,
            error_type,
            max_executions,
        } = self;
        [
            workflow_id,
            workflow_prefix,
            status,
            since,
            until,
            tenant,
            text,
            model,
            error_type,
        ]
        .iter()
        .any(|f| f.is_some())
            || max_executions.is_some()
    }
}

fn parse_export_format(text: &str) -> Result<orcheo_trace_service::ExportFormat, String> {
    text.parse()
        .map_err(|e: orcheo_trace_service::export::UnknownFormat| e.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// `sqlite://PATH` (the embedded default) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "ORCHEO_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://orcheo-trace.db"
    )]
    pub(crate) database_url: orcheo_settings::Secret<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NormalizeArgs {
    /// The payload's format; `auto` tells them apart by their top-level keys (anything not JSON
    /// is read as OTLP protobuf).
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub(crate) format: orcheo_span_tree::Format,

    /// `tree`: the nested span tree; `flat`: Orcheo's flat span list.
    #[arg(long, value_enum, default_value_t = View::Tree)]
    pub(crate) view: View,

    /// Levels of the tree to print below the root (deeper spans are counted, not shown).
    #[arg(long)]
    pub(crate) depth: Option<u32>,

    /// Withhold prompt, response and message text (keeping counts and a marker).
    #[arg(long)]
    pub(crate) withhold_content: bool,

    /// Redact e-mails, SSN-like and card-like numbers and secrets in every text of the tree:
    /// content, span and event names, attribute keys and values (resources included), status
    /// and error messages, anomaly details.
    #[arg(long)]
    pub(crate) redact: bool,

    /// Extra redaction pattern (a regular expression); may be repeated. Implies --redact.
    #[arg(long = "redact-pattern", value_name = "REGEX")]
    pub(crate) redact_patterns: Vec<String>,

    /// Cut prompts, responses and messages to this many characters (at least 16).
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..))]
    pub(crate) preview_length: Option<u32>,

    /// Pretty-print the JSON (keys stay in their order; any depth).
    #[arg(long)]
    pub(crate) pretty: bool,

    /// The payload file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub(crate) input: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum View {
    Tree,
    Flat,
}

fn parse_format(text: &str) -> Result<orcheo_span_tree::Format, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
