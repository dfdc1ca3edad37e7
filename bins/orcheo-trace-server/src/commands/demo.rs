//! `demo`: the server on its embedded defaults, three workflow runs exported to it, and where to
//! see them.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::web;
use anyhow::Context as _;
use orcheo_trace_server::config::{ServeArgs, TraceBackend};
use orcheo_trace_server::demo::{self, DemoTarget};
use orcheo_trace_server::{Application, ServerConfig, telemetry};
use orcheo_trace_store::{PoolConfig, Store};

/// An address a client on this machine can reach (`0.0.0.0` is not one).
fn reachable(addr: SocketAddr, port: u16) -> SocketAddr {
    let ip = if addr.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        addr.ip()
    };
    SocketAddr::new(ip, port)
}

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(args)?;
    anyhow::ensure!(
        config.backend == TraceBackend::Embedded,
        "the demo runs on the embedded trace backend; unset ORCHEO_TRACE_BACKEND"
    );
    let grpc_addr = config
        .otlp_grpc_addr
        .context("the demo exports over OTLP/gRPC; ORCHEO_OTLP_GRPC_ADDR must not be off")?;
    telemetry::init(config.log_format);
    let http_addr = config.http_addr;
    let http_otlp_addr = config.otlp_http_addr;
    let url = config.database_url.expose_secret().clone();
    let artifact_dir = config.artifact_dir.clone();
    let ingest_token = config.otlp_ingest_token.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config).await?;
        let api = reachable(http_addr, app.port());
        let grpc = reachable(
            grpc_addr,
            app.otlp_grpc_port().context("no OTLP/gRPC receiver")?,
        );
        let http_receiver = http_otlp_addr
            .zip(app.otlp_http_port())
            .map(|(addr, port)| {
                format!(", or to http://{}/v1/traces (HTTP)", reachable(addr, port))
            })
            .unwrap_or_default();
        let server = actix_web::rt::spawn(app.run());
        let target = DemoTarget {
            otlp_grpc: format!("http://{grpc}"),
            ingest_token,
            artifact_dir,
        };
        let runs = web::block(move || -> anyhow::Result<_> {
            let store = Store::open(&url, PoolConfig::default())?;
            demo::run(&target, &store)
        })
        .await??;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Orcheo Trace is running. Open the Trace tab: http://{api}/\n\n{} demo runs:",
            runs.len()
        )?;
        for run in &runs {
            writeln!(
                out,
                "  {} [{}]\n    viewer: http://{api}/executions/{id}\n    JSON:   http://{api}/api/executions/{id}/trace",
                run.title,
                run.status,
                id = run.execution_id
            )?;
        }
        writeln!(
            out,
            "\nExecutions: http://{api}/api/executions  ·  API: http://{api}/api/openapi.json\n\
             Send your own spans over OTLP to http://{grpc} (gRPC){http_receiver}. Ctrl-C stops."
        )?;
        drop(out);
        server.await??;
        anyhow::Ok(())
    })
}
