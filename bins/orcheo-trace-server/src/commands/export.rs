//! `export`: an execution's trace, as the server would serve it, into a file or standard output.

use std::io::Write as _;

use anyhow::Context as _;
use orcheo_trace_server::ServerConfig;
use orcheo_trace_server::metrics::ServerMetrics;
use orcheo_trace_server::routes::ExecutionView;
use orcheo_trace_server::startup::{open_store, trace_service};
use orcheo_trace_service::{Audience, ExportFormat, export};

use crate::cli::ExportArgs;

pub(crate) fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(&args.server)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let (execution, loaded, policy_view) = runtime.block_on(async {
        let store = open_store(config.database_url.expose_secret().clone()).await?;
        let metrics = ServerMetrics::new().context("cannot register the metrics")?;
        let traces = trace_service(&config, store, metrics.fetch.clone())?;
        let execution = traces
            .execution(&Audience::Everyone, &args.execution_id)
            .await?;
        let withhold = args.without_content || args.format == ExportFormat::Csv;
        let loaded = traces.trace(&execution, withhold).await?;
        loaded.whole(&execution)?;
        let view = ExecutionView::of_trace(&execution, &loaded, &traces.policy());
        anyhow::Ok((execution, loaded, view))
    })?;
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
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
