//! Configuration of the AWS functions, from the environment, typed and checked once at
//! start: a missing or malformed variable stops the cold start with a message naming it.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name}: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// Where `mesa rules publish` puts the bundle and the functions read it, unless told.
pub const DEFAULT_RULES_KEY: &str = "rules/bundle.json";

#[derive(Debug, Clone, PartialEq, Eq)]

pub struct AwsConfig {
    /// `TABLE_NAME`: the single table.
    pub table: String,
    /// `BLOB_BUCKET`: attachments and the raw mail copies the desk keeps.
    pub blob_bucket: String,
    /// `INBOUND_BUCKET` / `INBOUND_PREFIX`: where the SES receipt rule stores raw mail.
    pub inbound_bucket: String,
    pub inbound_prefix: String,
    /// `RULES_BUCKET` / `RULES_KEY`: the published rules bundle (optional: without it the
    /// bundle built into the function is used).
    pub rules_bucket: Option<String>,
    pub rules_key: String,
    /// `RULES_REFRESH_SECONDS`: how often a running function asks whether a new bundle was
    /// published (default 60).
    pub rules_refresh: std::time::Duration,
    /// `RULES_WAIT_SECONDS`: the longest a cold start or a refresh waits for the published
    /// rules before going on with the rules it has (default 2).
    pub rules_wait: std::time::Duration,
    /// `EVENT_BUS_NAME`.
    pub event_bus: String,
    /// `SES_CONFIGURATION_SET` (optional).
    pub configuration_set: Option<String>,
    /// `PUBLIC_URL`: base URL of the public pages, for links in e-mails.
    pub public_url: String,
    /// `MAIL_DOMAIN`: right-hand side of our Message-IDs.
    pub mail_domain: String,
    /// `MESA_SECRET`: key of signed links and form tokens (at least 32 characters).
    pub secret: String,
    /// `METRICS_NAMESPACE` (default `mesa`).
    pub metrics_namespace: String,
    /// `AWS_REGION`.
    pub region: String,
    /// `ONCALL_TOPIC_ARN` (optional): the SNS topic severity-1 reports are paged to.
    pub on_call_topic: Option<String>,
    /// `TEAM_ADDRESS` (optional): where at-risk warnings of tickets without an owner go.
    pub team_address: Option<String>,
}

impl AwsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            env.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let req = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let secret = req("MESA_SECRET")?;
        if secret.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "MESA_SECRET",
                problem: "must be at least 32 characters".into(),
            });
        }
        let public_url = req("PUBLIC_URL")?;
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "PUBLIC_URL",
                problem: format!("{public_url:?} is not an http(s) URL"),
            });
        }
        Ok(Self {
            table: req("TABLE_NAME")?,
            blob_bucket: req("BLOB_BUCKET")?,
            inbound_bucket: get("INBOUND_BUCKET").unwrap_or_default(),
            inbound_prefix: get("INBOUND_PREFIX").unwrap_or_default(),
            rules_bucket: get("RULES_BUCKET"),
            rules_key: get("RULES_KEY").unwrap_or_else(|| DEFAULT_RULES_KEY.into()),
            rules_wait: match get("RULES_WAIT_SECONDS") {
                None => crate::INIT_RULES_WAIT,
                Some(v) => match v.parse::<u64>() {
                    Ok(seconds @ 1..=60) => std::time::Duration::from_secs(seconds),
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "RULES_WAIT_SECONDS",
                            problem: format!("{v:?} is not a whole number of seconds from 1 to 60"),
                        });
                    }
                },
            },
            rules_refresh: match get("RULES_REFRESH_SECONDS") {
                None => crate::s3::RULES_REFRESH_INTERVAL,
                Some(v) => {
                    std::time::Duration::from_secs(v.parse().map_err(|_| ConfigError::Invalid {
                        name: "RULES_REFRESH_SECONDS",
                        problem: format!("{v:?} is not a whole number of seconds"),
                    })?)
                }
            },
            event_bus: get("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            configuration_set: get("SES_CONFIGURATION_SET"),
            public_url,
            mail_domain: get("MAIL_DOMAIN").unwrap_or_else(|| "mesa.local".into()),
            secret,
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "mesa".into()),
            region: get("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            on_call_topic: get("ONCALL_TOPIC_ARN"),
            team_address: get("TEAM_ADDRESS"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("TABLE_NAME", "mesa"),
            ("BLOB_BUCKET", "blobs"),
            ("PUBLIC_URL", "https://soporte.example.com"),
            ("MESA_SECRET", "0123456789abcdef0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn reads_and_checks() {
        let c = AwsConfig::from_map(&base()).unwrap();
        assert_eq!(c.table, "mesa");
        assert_eq!(c.rules_key, "rules/bundle.json");
        assert_eq!(c.rules_wait, crate::INIT_RULES_WAIT);
        for (wait, read) in [("30", Some(30)), ("0", None), ("61", None), ("2.5", None)] {
            let mut e = base();
            e.insert("RULES_WAIT_SECONDS".into(), wait.into());
            match read {
                Some(seconds) => assert_eq!(
                    AwsConfig::from_map(&e).unwrap().rules_wait,
                    std::time::Duration::from_secs(seconds)
                ),
                None => assert!(matches!(
                    AwsConfig::from_map(&e),
                    Err(ConfigError::Invalid {
                        name: "RULES_WAIT_SECONDS",
                        ..
                    })
                )),
            }
        }
        let mut e = base();
        e.remove("TABLE_NAME");
        assert_eq!(
            AwsConfig::from_map(&e),
            Err(ConfigError::Missing("TABLE_NAME"))
        );
        let mut e = base();
        e.insert("MESA_SECRET".into(), "short".into());
        assert!(matches!(
            AwsConfig::from_map(&e),
            Err(ConfigError::Invalid {
                name: "MESA_SECRET",
                ..
            })
        ));
        let mut e = base();
        e.insert("PUBLIC_URL".into(), "soporte".into());
        assert!(matches!(
            AwsConfig::from_map(&e),
            Err(ConfigError::Invalid {
                name: "PUBLIC_URL",
                ..
            })
        ));
    }
}
