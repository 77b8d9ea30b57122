//! The `parley` command: parses the command line and runs the server or a maintenance task.

use clap::Parser;
use parley::app::Application;
use parley::config::{AiCommand, Cli, Command, LogFormat};
use parley::store::Store;
use std::io::Write;

/// The server allocates and frees small buffers on every request and every turn, from many
/// threads: mimalloc does that with less work and less contention than the system allocator.
/// It is built without transparent huge pages (the `no_thp` feature): with them, memory that
/// mimalloc returned to the system and takes again comes back as 2 MiB pages the kernel must
/// zero at the first touch, which stalled request threads for tens of milliseconds at a time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            parley::telemetry::init(config.log_format);
            let application = Application::build(*config).await?;
            application.run_until_stopped().await?;
        }
        Command::Migrate(database) => {
            parley::telemetry::init(LogFormat::Text);
            std::fs::create_dir_all(&database.data_dir)?;
            let store = Store::connect(&database.effective_url(), 1).await?;
            store.migrate().await?;
            tracing::info!("migrations applied");
        }
        Command::Ai(AiCommand::Eval(args)) => {
            let cases = parley::ai::eval::load(&args.data)?;
            let report = parley::ai::eval::evaluate(&cases, args.today);
            std::io::stdout()
                .lock()
                .write_all(report.render(args.misses).as_bytes())?;
        }
    }
    Ok(())
}
