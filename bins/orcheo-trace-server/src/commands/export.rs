//! `export`: an execution's trace, as the server would serve it, into a file or standard output;
//! with `--all`, every execution the filters match.

use std::io::Write as _;

use anyhow::Context as _;
use orcheo_trace_server::ServerConfig;
use orcheo_trace_server::export_set::{self, SetRequest};
use orcheo_trace_server::metrics::ServerMetrics;
use orcheo_trace_server::routes::ExecutionView;
use orcheo_trace_server::routes::executions::ListQuery;
use orcheo_trace_server::startup::{open_store, trace_service};
use orcheo_trace_service::{Audience, ExportFormat, export};

use crate::cli::ExportArgs;

pub(crate) fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let Some(execution_id) = args.execution_id.as_deref() else {
        return run_all(args);
    };
    anyhow::ensure!(
        !args.filters.any(),
        "the filters (--workflow-id, --status, --since…) choose what `export --all` writes; \
         give --all instead of an execution id"
    );
    let config = ServerConfig::from_args(&args.server)?;
    let runtime = super::runtime()?;
    let (execution, loaded, policy_view) = runtime.block_on(async {
        let store = open_store(config.database_url.expose_secret().clone()).await?;
        let metrics = ServerMetrics::new().context("cannot register the metrics")?;
        let traces = trace_service(&config, store, metrics.fetch.clone())?;
        let execution = traces.execution(&Audience::Everyone, execution_id).await?;
        let withhold = args.without_content || args.format == ExportFormat::Csv;
        let loaded = traces.trace(&execution, withhold).await?;
        loaded.whole(&execution)?;
        let view = ExecutionView::of_trace(&execution, &loaded, &traces.policy());
        anyhow::Ok((execution, loaded, view))
    })?;
    let mut out = output(args)?;
    match args.format {
        ExportFormat::Json => {
            export::write_json(
                &mut out,
                &policy_view,
                &loaded.source,
                &loaded.tree,
                &loaded.costs,
            )?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Csv => {
            export::write_csv(&mut out, execution.id.as_str(), &loaded.tree, &loaded.costs)?;
        }
    }
    out.flush().context("cannot write the export")?;
    Ok(())
}

/// The file named by `--output`, or standard output.
fn output(args: &ExportArgs) -> anyhow::Result<Box<dyn std::io::Write>> {
    Ok(match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// `export --all`: the executions the filters match, as `GET /api/executions/export` writes
/// them for an administrator; what could not be written is said on standard error.
fn run_all(args: &ExportArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(&args.server)?;
    let given = &args.filters;
    let runtime = super::runtime()?;
    let traces = runtime.block_on(async {
        let store = open_store(config.database_url.expose_secret().clone()).await?;
        let metrics = ServerMetrics::new().context("cannot register the metrics")?;
        trace_service(&config, store, metrics.fetch.clone())
    })?;
    // The list's own parsing, so the command filters as the route does; an operator's search
    // reaches content too.
    let mut filters = ListQuery {
        workflow_id: given.workflow_id.clone(),
        workflow_prefix: given.workflow_prefix.clone(),
        status: given.status.clone(),
        started_after: given.since.clone(),
        started_before: given.until.clone(),
        tenant: given.tenant.clone(),
        q: given.text.clone(),
        model: given.model.clone(),
        error_type: given.error_type.clone(),
        ..ListQuery::default()
    };
    let mut filter = filters
        .filter(
            |requested| requested.map(str::to_owned),
            true,
            traces.shared_prices(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Runs kept in Tempo and not indexed yet, as the route finds them.
    if let Some(words) = filter
        .q
        .as_deref()
        .and_then(|q| orcheo_trace_store::query_words(q).ok())
    {
        filter.q_trace_ids = runtime.block_on(traces.find_text_in_store(
            words,
            orcheo_trace_server::routes::executions::MAX_TRACE_STORE_HITS,
        ));
    }
    let request = SetRequest {
        filter,
        filters: export_set::filters_json(&filters),
        audience: Audience::Everyone,
        format: args.format,
        withhold_content: args.without_content || args.format == ExportFormat::Csv,
        max_executions: given
            .max_executions
            .unwrap_or(export_set::DEFAULT_MAX_EXECUTIONS),
    };
    let mut out = output(args)?;
    let summary = export_set::write_set(&mut out, runtime.handle(), &traces, &request)?;
    if args.format == ExportFormat::Json {
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write the export")?;
    let mut err = std::io::stderr().lock();
    writeln!(err, "exported {} execution(s)", summary.exported)?;
    for missing in &summary.unavailable {
        writeln!(
            err,
            "not exported: {} ({}): {}",
            missing.execution_id, missing.error, missing.message
        )?;
    }
    if summary.truncated {
        writeln!(
            err,
            "more executions match: the export stops at --max-executions {}",
            request.max_executions
        )?;
    }
    Ok(())
}
