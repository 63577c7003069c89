//! mesa on AWS: the DynamoDB store, SES v2 mailer, S3 blobs and rules source, EventBridge
//! events and EMF metrics, and the wiring the Lambda functions share.

pub mod config;
pub mod dynamo;
pub mod events;
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
pub use s3::{S3Blobs, S3RulesSource};
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
    /// From the standard chain (environment, profile, role). `AWS_ENDPOINT_URL` points every
    /// client at an emulator; S3 then uses path-style addressing.
    pub async fn from_env() -> Self {
        let shared = aws_config::load_defaults(BehaviorVersion::latest()).await;
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

/// Everything a function needs, wired once at cold start.
pub struct Wiring {
    pub config: AwsConfig,
    pub clients: Clients,
    pub desk: Arc<Desk>,
    pub store: Arc<DynamoStore>,
    pub rules: Option<Arc<S3RulesSource>>,
}

/// The rules built into the function (the repository's rules/ at build time).
pub fn built_in_rules() -> Result<Policy, PolicyError> {
    Policy::activate(Bundle::built_in())
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

impl Wiring {
    pub async fn from_env() -> Result<Self, WiringError> {
        let config = AwsConfig::from_env()?;
        let clients = Clients::from_env().await;
        Self::new(config, clients).await
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
        let live = Arc::new(LiveRules::new(built_in_rules()?));
        let rules = config.rules_bucket.as_ref().map(|bucket| {
            Arc::new(S3RulesSource::new(
                clients.s3.clone(),
                bucket.clone(),
                config.rules_key.clone(),
            ))
        });
        if let Some(source) = &rules {
            if let Err(e) = source.refresh_now(&live).await {
                tracing::error!(error = %e, "published rules not loaded; using the built-in bundle");
            }
        }
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
            if let Err(e) = source.refresh(self.desk.rules()).await {
                self.desk.rules_rejected(&e);
            }
        }
    }
}
