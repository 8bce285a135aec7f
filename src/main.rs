//! `castyou`: serve the API, migrate, print the schema, or manage admins.

use castyou::configuration::Settings;
use castyou::startup::Application;
use castyou::{db, graphql, services, telemetry};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

// Requests allocate many small, short-lived objects across worker threads; mimalloc handles
// that pattern far better than the system allocator (see the README's performance notes).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "castyou",
    about = "The CastYou casting platform's GraphQL server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Fill the database with realistic demo data: producers, talent profiles and OPEN jobs
    /// (accounts sign in with the password `castyou-demo`). Start or restart the server after
    /// seeding: the indexes load everything when it starts (copies saved before are not opened).
    Seed {
        #[arg(long, default_value_t = 2_000)]
        talents: usize,
        #[arg(long, default_value_t = 200)]
        jobs: usize,
        #[arg(long, default_value_t = 50)]
        producers: usize,
        /// The random seed (the same seed makes the same people).
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Grant or revoke the ADMIN role.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Decodes one still from standard input under the given limits (the media workers run
    /// this as a child process per image; not for people).
    #[command(hide = true)]
    MediaStill(castyou::clients::sandbox::StillArgs),
}

#[derive(Subcommand)]
enum AdminAction {
    /// Make the user with this email an ADMIN (their sessions end; they sign in again).
    Grant { email: String },
    /// Take ADMIN away (back to PRODUCER if they have a producer profile, else TALENT).
    Revoke { email: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A still's decoder runs alone, limited, without the server's runtime.
    if let Command::MediaStill(args) = &cli.command {
        return castyou::clients::sandbox::still_main(args);
    }
    actix_web::rt::System::new().block_on(serve_cli(cli))
}

async fn serve_cli(cli: Cli) -> ExitCode {
    if let Command::Schema = cli.command {
        print!("{}", graphql::schema_sdl());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "fatal");
            eprintln!("error: {e:#}");
            // Exit here, inside the runtime: actors started before the failure would otherwise
            // be dropped with the runtime already gone, and panic over the real message.
            use std::io::Write as _;
            let _ = std::io::stderr().flush();
            let _ = std::io::stdout().flush();
            std::process::exit(1)
        }
    }
}

// Long: one arm per command-line command, each a few lines that start that command.
async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate => {
            telemetry::init(&settings.log);
            let applied = db::run_migrations(&settings.database).await?;
            println!("{} migration(s) applied", applied.len());
        }
        Command::Seed {
            talents,
            jobs,
            producers,
            seed,
        } => {
            telemetry::init(&settings.log);
            db::run_migrations(&settings.database).await?;
            let pool = db::build_pool(&settings.database)?;
            let docs = castyou::documents::Documents::connect(&settings.mongodb).await?;
            let state = services::AppState::new(settings, pool, docs)?;
            let hash = services::passwords::hash_for_seed(&state, castyou::seed::DEMO_PASSWORD)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?;
            let mut conn = state.pool.get().await?;
            let plan = castyou::seed::Plan {
                talents,
                jobs,
                producers,
                seed,
            };
            let made = castyou::seed::run(&mut conn, &hash, plan).await?;
            println!(
                "seeded {} producers, {} talent profiles and {} open jobs in {:.1} s \
                 (password: {})",
                made.producers,
                made.talents,
                made.jobs,
                made.took.as_secs_f64(),
                castyou::seed::DEMO_PASSWORD
            );
        }
        // Answered before settings load (printing the schema needs none).
        Command::Schema => print!("{}", graphql::schema_sdl()),
        Command::MediaStill(_) => anyhow::bail!("media-still runs on its own"),
        Command::Admin { action } => {
            telemetry::init(&settings.log);
            db::run_migrations(&settings.database).await?;
            let pool = db::build_pool(&settings.database)?;
            let docs = castyou::documents::Documents::connect(&settings.mongodb).await?;
            let state = services::AppState::new(settings, pool, docs)?;
            let (email, grant) = match action {
                AdminAction::Grant { email } => (email, true),
                AdminAction::Revoke { email } => (email, false),
            };
            let (user, revoked) = services::auth::set_admin(&state, &email, grant)
                .await
                .map_err(|e| match e {
                    // The whole cause chain: what was being done, down to the driver's error.
                    castyou::errors::AppError::Internal(cause) => {
                        cause.context(format!("changing the role of {email}"))
                    }
                    other => anyhow::anyhow!(other.message()),
                })?;
            println!("{} is now {}", user.email, user.role);
            // The servers apply the revocation from PostgreSQL's outbox; writing Redis too only
            // makes it take effect before the event reaches them.
            match services::gate::write_revoked_now(&state, &revoked).await {
                Ok(()) => println!("{} session(s) ended", revoked.len()),
                Err(e) => println!(
                    "{} session(s) ended in PostgreSQL; Redis was not reachable ({e}), so the \
                     running servers apply it as the outbox event reaches them",
                    revoked.len()
                ),
            }
        }
    }
    Ok(())
}
