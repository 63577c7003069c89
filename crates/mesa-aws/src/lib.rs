//! mesa on AWS: the DynamoDB store, SES v2 mailer, S3 blobs and rules source, EventBridge
//! events and EMF metrics, and the wiring the Lambda functions share.

pub mod config;
pub mod dynamo;
pub mod events;
mod function_error;
mod init_error;
pub mod s3;
pub mod ses;
pub mod sns;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use mesa::desk::{Desk, DeskConfig};
use mesa::policy::{Bundle, LiveRules, Policy, PolicyError};
use mesa::ports::SystemClock;

pub use config::{AwsConfig, ConfigError};
pub use dynamo::DynamoStore;
pub use events::{EmfMetrics, EventBridgeBus};
pub use function_error::FunctionError;
pub use init_error::report_init_error;
pub use s3::{RefreshError, S3Blobs, S3RulesSource};
pub use ses::SesMailer;
pub use sns::SnsPager;

/// The SDK clients, built once per process.
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// From the standard chain (environment, profile, role; a profile's SSO or
    /// credential_process only with the `operator-credentials` feature, which the CLI has).
    /// `AWS_ENDPOINT_URL` points every client at an emulator; S3 then uses path-style
    /// addressing.
    pub async fn from_env() -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .load()
            .await;
        let path_style = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ses: aws_sdk_sesv2::Client::new(&shared),
            events: aws_sdk_eventbridge::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
        }
    }
}

/// The one HTTPS client every SDK client shares: what the SDK's default client is (hyper 1,
/// rustls, the system's trusted roots, connect and read timeouts, the proxy of
/// `HTTPS_PROXY` / `NO_PROXY`), with ring as rustls' crypto instead of aws-lc. Chosen here
/// rather than by the SDK's default features, which also link aws-lc and a legacy
/// hyper 0.14 / rustls 0.21 stack (see the workspace Cargo.toml).
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, Connector};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = Connector::builder().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Everything a function needs, wired once at cold start.
pub struct Wiring {
    pub config: AwsConfig,
    pub clients: Clients,
    pub desk: Arc<Desk>,
    pub store: Arc<DynamoStore>,
    pub rules: Option<Arc<S3RulesSource>>,
}

/// The rules built into the function (the repository's rules/ at build time). Compiled
/// only: the test suite runs their smoke test and vectors on the same rules/, and running
/// them again on every cold start cost about a third of its init.
pub fn built_in_rules() -> Result<Policy, PolicyError> {
    Policy::compile_prechecked(Bundle::built_in())
}

/// JSON logs for CloudWatch (level from `RUST_LOG`), set up once in each function's main.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
}

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("built-in rules: {0}")]
    Rules(#[from] PolicyError),
}

impl WiringError {
    /// The `errorType` Lambda shows for a cold start that failed with it.
    pub fn error_type(&self) -> &'static str {
        match self {
            WiringError::Config(_) => "mesa.ConfigError",
            WiringError::Rules(_) => "mesa.RulesError",
        }
    }
}

impl Wiring {
    pub async fn from_env() -> Result<Self, WiringError> {
        let config = AwsConfig::from_env()?;
        let clients = Clients::from_env().await;
        Self::new(config, clients).await
    }

    /// [`Wiring::from_env`] for a function's `main`: a failure is also reported to the
    /// Runtime API's init-error endpoint with its type.
    pub async fn for_function() -> Result<Self, WiringError> {
        let wiring = Self::from_env().await;
        if let Err(e) = &wiring {
            report_init_error(e.error_type(), e).await;
        }
        wiring
    }

    pub async fn new(config: AwsConfig, clients: Clients) -> Result<Self, WiringError> {
        let metrics = Arc::new(EmfMetrics::new(config.metrics_namespace.clone()));
        Self::with_metrics(config, clients, metrics).await
    }

    /// [`Wiring::new`] with another metrics sink (EMF on stdout is the default).
    pub async fn with_metrics(
        config: AwsConfig,
        clients: Clients,
        metrics: Arc<dyn mesa::ports::Metrics>,
    ) -> Result<Self, WiringError> {
        let rules = config.rules_bucket.as_ref().map(|bucket| {
            Arc::new(
                S3RulesSource::new(clients.s3.clone(), bucket.clone(), config.rules_key.clone())
                    .with_interval(config.rules_refresh)
                    .with_wait(config.rules_wait),
            )
        });
        // A published bundle is the rules; the built-in one is compiled only when none is
        // (or it cannot be had), and otherwise only if a ticket ever needs a fallback.
        let published = match &rules {
            Some(source) => published_at_start(source, metrics.as_ref()).await,
            None => None,
        };
        let live = Arc::new(LiveRules::new(match published {
            Some(policy) => policy,
            None => built_in_rules()?,
        }));
        let store = Arc::new(DynamoStore::new(
            clients.dynamodb.clone(),
            config.table.clone(),
        ));
        let mut desk_config = DeskConfig::new(&config.public_url, config.secret.as_bytes());
        desk_config.mail_domain = config.mail_domain.clone();
        desk_config.team_address = config.team_address.clone();
        let desk = Desk::new(
            store.clone(),
            Arc::new(SesMailer::new(
                clients.ses.clone(),
                config.configuration_set.clone(),
                &config.region,
            )),
            Arc::new(S3Blobs::new(clients.s3.clone(), config.blob_bucket.clone())),
            live,
            Arc::new(SystemClock),
            desk_config,
        )
        .with_events(Arc::new(EventBridgeBus::new(
            clients.events.clone(),
            config.event_bus.clone(),
        )))
        .with_metrics(metrics);
        let desk = match &config.on_call_topic {
            Some(topic) => {
                desk.with_pager(Arc::new(SnsPager::new(clients.sns.clone(), topic.clone())))
            }
            None => desk,
        };
        Ok(Self {
            config,
            clients,
            desk: Arc::new(desk),
            store,
            rules,
        })
    }

    /// Picks up a newly published bundle (by ETag, at most once a minute).
    pub async fn refresh_rules(&self) {
        if let Some(source) = &self.rules {
            refresh_rules(source, &self.desk).await;
        }
    }
}

/// The published rules at cold start, if there are any and they load; otherwise says why
/// not (the built-in bundle then serves until the next look).
async fn published_at_start(
    source: &S3RulesSource,
    metrics: &dyn mesa::ports::Metrics,
) -> Option<Policy> {
    // Bounded: a cold start never waits long on S3; on time-out the built-in bundle
    // serves and the next look is a minute later, like any refresh.
    match tokio::time::timeout(source.wait(), source.load_now()).await {
        Ok(Ok(published)) => published,
        Ok(Err(RefreshError::Unreachable(e))) => {
            tracing::warn!(error = %e, "published rules unreachable at start (network); the built-in bundle runs until the next look");
            None
        }
        Ok(Err(RefreshError::Rejected(e))) => {
            tracing::error!(error = %e, "published rules rejected at start; the built-in bundle runs");
            metrics.count(&mesa::ports::Metric::RulesRejected);
            None
        }
        Err(_) => {
            tracing::warn!(
                wait_ms = source.wait().as_millis() as u64,
                "published rules did not arrive in time at start (network); the built-in bundle runs until the next look"
            );
            None
        }
    }
}

/// How long a cold start waits for the published rules before it runs on the built-in
/// bundle, and a refresh before it goes on with the running rules, unless
/// `RULES_WAIT_SECONDS` says otherwise.
pub const INIT_RULES_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Picks up a newly published bundle for `desk` (by ETag, at most once per the source's
/// interval): a rejected bundle is logged and counted (the last known good rules stay); S3
/// out of reach is logged as such and asked again at the next interval.
pub async fn refresh_rules(source: &S3RulesSource, desk: &Desk) {
    // Bounded like the cold start: a request or an event never waits long on S3.
    match tokio::time::timeout(source.wait(), source.refresh(desk.rules())).await {
        Ok(Ok(_)) => {}
        Ok(Err(RefreshError::Rejected(e))) => desk.rules_rejected(&e),
        Ok(Err(RefreshError::Unreachable(e))) => {
            tracing::warn!(error = %e, "published rules unreachable (network); the running rules stay");
        }
        Err(_) => {
            tracing::warn!(
                "published rules did not arrive in time (network); the running rules stay"
            );
        }
    }
}
