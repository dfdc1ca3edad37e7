//! `serve`: validate the configuration, set up logs, then the server's own spans, build the
//! application and run it.

use opentelemetry::trace::TracerProvider as _;
use orcheo_trace_server::config::ServeArgs;
use orcheo_trace_server::telemetry::OwnTelemetry;
use orcheo_trace_server::{Application, ServerConfig, telemetry};
use orcheo_tracing::{Exporter, Telemetry, TracingConfig};

/// The server's own spans are `orcheo-trace-server`'s unless the environment names them.
const SERVICE_NAME: &str = "orcheo-trace-server";

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(args)?;
    // Logs before the server's own spans: setting those up warns when the collector does not
    // answer, and a warning logged before the logs start is lost.
    let spans = telemetry::init(config.log_format);
    let tracing_config = TracingConfig::from_lookup(&|name| {
        std::env::var(name).ok().or_else(|| {
            (name == "ORCHEO_TRACING_SERVICE_NAME"
                && std::env::var_os("OTEL_SERVICE_NAME").is_none())
            .then(|| SERVICE_NAME.to_owned())
        })
    })?;
    let own = Telemetry::init(&tracing_config)?;
    let exporting = own.exporter() != Exporter::None;
    if exporting && let Some(spans) = &spans {
        spans.export_to(own.provider().tracer(SERVICE_NAME));
    }
    let exporter = exporting.then(|| OwnTelemetry {
        exporter: exporter_name(own.exporter()),
        stats: own.export_stats(),
        metrics: own.metrics().cloned(),
    });
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_with_exporter(config, exporter).await?;
        app.run().await?;
        anyhow::Ok(())
    })?;
    // Outside the runtime: the last export at shutdown must not wait on it.
    drop(own);
    Ok(())
}

fn exporter_name(exporter: Exporter) -> &'static str {
    match exporter {
        Exporter::None => "none",
        Exporter::Console => "console",
        Exporter::Otlp => "otlp",
    }
}
