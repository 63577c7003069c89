//! S3: blobs (raw mail, attachments) and the live rules bundle.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use mesa::policy::{Bundle, LiveRules, Policy, RulesVersion};
use mesa::ports::{BlobError, BlobStore};

pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Reads an object; `Ok(None)` when there is no such key (yet).
    pub async fn get_object(
        client: &Client,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, BlobError> {
        match client.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| BlobError::caused_by(format!("s3://{bucket}/{key}"), e))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => Ok(None),
            Err(e) => Err(s3_error(format!("s3://{bucket}/{key}"), e)),
        }
    }
}

/// A blob error that keeps the SDK error as its source and its full context in the text.
fn s3_error<E>(what: String, e: E) -> BlobError
where
    E: std::error::Error + Send + Sync + 'static,
{
    BlobError {
        message: format!("{what}: {}", DisplayErrorContext(&e)),
        source: Some(Box::new(e)),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| s3_error(format!("s3://{}/{key}", self.bucket), e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Self::get_object(&self.client, &self.bucket, key).await
    }

    /// A presigned PutObject URL (signed with the function's role; no body limit of the
    /// API gateway applies). The size is checked when the form claims the file.
    async fn presign_put(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, BlobError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(|e| {
            BlobError::caused_by(format!("presigning s3://{}/{key}", self.bucket), e)
        })?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| s3_error(format!("presigning s3://{}/{key}", self.bucket), e))?;
        Ok(Some(request.uri().to_string()))
    }
}

/// The rules bundle as one S3 object (a JSON map of path → UTF-8 text), so that a
/// half-published bundle cannot exist: the object is replaced whole or not at all.
pub mod bundle_object {
    use std::collections::BTreeMap;

    use mesa::policy::{Bundle, BundleError};

    pub fn encode(bundle: &Bundle) -> Result<Vec<u8>, String> {
        let mut map = BTreeMap::new();
        for (path, bytes) in bundle.files() {
            let text =
                std::str::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8 text"))?;
            map.insert(path.to_string(), text.to_string());
        }
        serde_json::to_vec(&map).map_err(|e| e.to_string())
    }

    pub fn decode(bytes: &[u8]) -> Result<Bundle, String> {
        let map: BTreeMap<String, String> =
            serde_json::from_slice(bytes).map_err(|e| format!("not a rules bundle object: {e}"))?;
        Bundle::from_files(map.into_iter().map(|(k, v)| (k, v.into_bytes())))
            .map_err(|e: BundleError| e.to_string())
    }
}

/// Why the published rules were not taken up.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// S3 could not be asked or did not answer in time (network, permissions, throttling):
    /// nothing is known about the bundle; the running rules stay and it is asked again.
    #[error("the published rules could not be read: {0}")]
    Unreachable(String),
    /// The bundle was read and failed to load or to pass its vectors: the last known good
    /// rules stay.
    #[error("the published rules were rejected: {0}")]
    Rejected(String),
}

/// How often a process asks whether the bundle object changed.
pub const RULES_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Keeps a process's rules in step with the bundle object: re-reads it only when its ETag
/// changed, at most once per interval (a minute), and keeps the last known good rules when
/// a new bundle fails to load or to pass its vectors.
pub struct S3RulesSource {
    client: Client,
    bucket: String,
    key: String,
    interval: std::time::Duration,
    wait: std::time::Duration,
    etag: tokio::sync::Mutex<Option<String>>,
    checked: tokio::sync::Mutex<Option<std::time::Instant>>,
}

impl S3RulesSource {
    pub fn new(client: Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            key: key.into(),
            interval: RULES_REFRESH_INTERVAL,
            wait: crate::INIT_RULES_WAIT,
            etag: tokio::sync::Mutex::new(None),
            checked: tokio::sync::Mutex::new(None),
        }
    }

    /// Asks every `interval` instead of every minute (tests).
    pub fn with_interval(mut self, interval: std::time::Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Waits at most `wait` for the object, at cold start and at each refresh, instead of
    /// [`crate::INIT_RULES_WAIT`].
    pub fn with_wait(mut self, wait: std::time::Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The longest a cold start or a refresh waits for the object.
    pub fn wait(&self) -> std::time::Duration {
        self.wait
    }

    /// Refreshes `live` if the object changed and the interval has passed since the last
    /// look (at cold start included); gives the version now in force. Errors leave the
    /// running rules in place.
    pub async fn refresh(&self, live: &LiveRules) -> Result<RulesVersion, RefreshError> {
        {
            let checked = self.checked.lock().await;
            if checked.is_some_and(|at| at.elapsed() < self.interval) {
                return Ok(live.current().version().clone());
            }
        }
        self.refresh_now(live).await
    }

    /// Looks at the object now, whatever the interval.
    pub async fn refresh_now(&self, live: &LiveRules) -> Result<RulesVersion, RefreshError> {
        *self.checked.lock().await = Some(std::time::Instant::now());
        let mut etag = self.etag.lock().await;
        let Some((bundle, new_etag)) = self.fetch(etag.as_deref()).await? else {
            return Ok(live.current().version().clone());
        };
        let version = live
            .try_replace(bundle)
            .map_err(|e| RefreshError::Rejected(e.to_string()))?;
        *etag = new_etag;
        Ok(version)
    }

    /// The published rules, checked (compiled, smoke-tested, vectors run), for a process's
    /// start; `None` when nothing is published. Counts as a look, like [`Self::refresh_now`].
    pub async fn load_now(&self) -> Result<Option<Policy>, RefreshError> {
        *self.checked.lock().await = Some(std::time::Instant::now());
        let mut etag = self.etag.lock().await;
        let Some((bundle, new_etag)) = self.fetch(None).await? else {
            return Ok(None);
        };
        let policy = Policy::activate(bundle).map_err(|e| RefreshError::Rejected(e.to_string()))?;
        *etag = new_etag;
        Ok(Some(policy))
    }

    /// The bundle object and its ETag; `None` when nothing is published or it is unchanged
    /// since `known_etag`.
    async fn fetch(
        &self,
        known_etag: Option<&str>,
    ) -> Result<Option<(Bundle, Option<String>)>, RefreshError> {
        let mut req = self.client.get_object().bucket(&self.bucket).key(&self.key);
        if let Some(e) = known_etag {
            req = req.if_none_match(e);
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 304 => {
                return Ok(None);
            }
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
                // Nothing published yet: the bundle built into the function stays.
                return Ok(None);
            }
            Err(e) => {
                return Err(RefreshError::Unreachable(format!(
                    "s3://{}/{}: {}",
                    self.bucket,
                    self.key,
                    DisplayErrorContext(e)
                )));
            }
        };
        let new_etag = out.e_tag().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| RefreshError::Unreachable(format!("reading the rules object: {e}")))?
            .into_bytes();
        let bundle: Bundle = bundle_object::decode(&bytes).map_err(RefreshError::Rejected)?;
        Ok(Some((bundle, new_etag)))
    }
}

/// Publishing the live rules bundle: one object in a versioned bucket, written only after
/// the bundle compiled and passed its vectors, and rolled back by restoring the version
/// before the current one (as a new version, so the history keeps every step).
pub mod publish {
    use aws_sdk_s3::Client;
    use aws_sdk_s3::error::DisplayErrorContext;
    use aws_sdk_s3::primitives::ByteStream;
    use mesa::policy::{Bundle, Policy, PolicyError, RulesVersion};
    use serde::Serialize;

    use super::bundle_object;

    /// The object metadata key that names the bundle's content hash.
    pub const VERSION_METADATA: &str = "rules-version";

    #[derive(Debug, Clone, Serialize)]
    pub struct Published {
        pub bucket: String,
        pub key: String,
        /// The bundle's content hash (what tickets record as `rules_version`).
        pub rules_version: RulesVersion,
        /// S3's version id of the object now current.
        pub object_version: String,
        pub vectors_passed: usize,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum PublishError {
        #[error("the bundle was not published: {0}")]
        Rules(#[from] PolicyError),
        #[error(
            "the bundle was published to s3://{bucket}/{key}, but the bucket does not keep versions, so it cannot be rolled back: turn versioning on"
        )]
        NotVersioned { bucket: String, key: String },
        #[error("s3://{bucket}/{key} has no earlier version to roll back to")]
        NothingToRollBackTo { bucket: String, key: String },
        #[error("{0}")]
        Bundle(String),
        #[error("S3: {0}")]
        S3(String),
    }

    fn s3_error(e: impl std::error::Error + 'static) -> PublishError {
        PublishError::S3(DisplayErrorContext(e).to_string())
    }

    /// Checks the bundle (compiles, required functions, vectors) and, only if it passes,
    /// writes it as the one rules object. The bucket must keep versions (the template's
    /// does): that is what `rollback` goes back through. It is checked on the write's
    /// answer (a version id) rather than with GetBucketVersioning, which the emulator
    /// answers in a shape the SDK rejects.
    pub async fn publish(
        client: &Client,
        bucket: &str,
        key: &str,
        bundle: Bundle,
    ) -> Result<Published, PublishError> {
        let (policy, report) = Policy::activate_with_report(bundle)?;
        put(client, bucket, key, &policy, report.passed()).await
    }

    async fn put(
        client: &Client,
        bucket: &str,
        key: &str,
        policy: &Policy,
        vectors_passed: usize,
    ) -> Result<Published, PublishError> {
        let body = bundle_object::encode(policy.bundle()).map_err(PublishError::Bundle)?;
        let out = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .metadata(VERSION_METADATA, policy.version().as_str())
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_error)?;
        // Unversioned buckets give no version id; suspended ones give "null".
        let object_version = match out.version_id() {
            Some(v) if v != "null" => v.to_string(),
            _ => {
                return Err(PublishError::NotVersioned {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                });
            }
        };
        Ok(Published {
            bucket: bucket.to_string(),
            key: key.to_string(),
            rules_version: policy.version().clone(),
            object_version,
            vectors_passed,
        })
    }

    /// Makes the version before the current one current again. That bundle is checked
    /// first with today's engine, like any publication.
    pub async fn rollback(
        client: &Client,
        bucket: &str,
        key: &str,
    ) -> Result<Published, PublishError> {
        // S3 lists a key's versions newest first; the first two are the current one and
        // the one to go back to.
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = client
                .list_object_versions()
                .bucket(bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(s3_error)?;
            versions.extend(
                page.versions()
                    .iter()
                    .filter(|v| v.key() == Some(key))
                    .filter_map(|v| v.version_id().map(|id| (id.to_string(), v.is_latest()))),
            );
            if versions.len() >= 2 || page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        let previous = match versions.as_slice() {
            [(_, Some(true)), (previous, _), ..] => previous.clone(),
            _ => {
                return Err(PublishError::NothingToRollBackTo {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                });
            }
        };
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(&previous)
            .send()
            .await
            .map_err(s3_error)?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PublishError::S3(e.to_string()))?
            .into_bytes();
        let bundle = bundle_object::decode(&bytes).map_err(PublishError::Bundle)?;
        let (policy, report) = Policy::activate_with_report(bundle)?;
        put(client, bucket, key, &policy, report.passed()).await
    }
}
