//! `serve`: validate the configuration, set up logs, then the server's own spans, build the
//! application and run it.

use opentelemetry::trace::TracerProvider as _;
use orcheo_settings::first_set;
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
    let env = |name: &str| std::env::var(name).ok();
    let tracing_config = TracingConfig::from_lookup(&|name| own_tracing_variable(&env, name))?;
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

/// A variable as the server's own tracing reads it: the environment's, except that the spans
/// are named after the server unless either service-name variable is set (and not blank).
fn own_tracing_variable(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    if name == "ORCHEO_TRACING_SERVICE_NAME" {
        let named = first_set(env, &["ORCHEO_TRACING_SERVICE_NAME", "OTEL_SERVICE_NAME"]);
        return Some(named.map_or_else(|| SERVICE_NAME.to_owned(), |(_, value)| value));
    }
    env(name)
}

fn exporter_name(exporter: Exporter) -> &'static str {
    match exporter {
        Exporter::None => "none",
        Exporter::Console => "console",
        Exporter::Otlp => "otlp",
    }
}

#[cfg(test)]
mod tests {
    use orcheo_tracing::TracingConfig;

    use super::{SERVICE_NAME, own_tracing_variable};

    fn service_name(vars: &[(&str, &str)]) -> String {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        TracingConfig::from_lookup(&|name| own_tracing_variable(&env, name))
            .unwrap()
            .service_name
    }

    #[test]
    fn the_servers_spans_are_its_own_unless_the_environment_names_them() {
        assert_eq!(service_name(&[]), SERVICE_NAME);
        assert_eq!(service_name(&[("OTEL_SERVICE_NAME", " ")]), SERVICE_NAME);
        assert_eq!(
            service_name(&[("OTEL_SERVICE_NAME", "trace-api")]),
            "trace-api"
        );
        assert_eq!(
            service_name(&[
                ("ORCHEO_TRACING_SERVICE_NAME", "orcheo-trace"),
                ("OTEL_SERVICE_NAME", "trace-api")
            ]),
            "orcheo-trace"
        );
        assert_eq!(
            service_name(&[
                ("ORCHEO_TRACING_SERVICE_NAME", ""),
                ("OTEL_SERVICE_NAME", "trace-api")
            ]),
            "trace-api"
        );
    }
}
