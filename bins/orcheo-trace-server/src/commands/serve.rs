//! `serve`: validate the configuration, set up logging, build the application and run it.

use orcheo_trace_server::config::ServeArgs;
use orcheo_trace_server::{Application, ServerConfig, telemetry};

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig::from_args(args)?;
    telemetry::init(config.log_format);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config).await?;
        app.run().await?;
        Ok(())
    })
}
