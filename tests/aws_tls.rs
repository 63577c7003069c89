//! The functions reach AWS over HTTPS; every other AWS test talks plain HTTP to the
//! emulators. Here the one HTTPS client the SDK clients share (`mesa_aws::https_client`:
//! hyper 1, rustls with ring, the system's trusted roots; the workspace takes the SDK
//! without its default client) is taken through a TLS handshake with moto serving HTTPS
//! under a test CA, which the process trusts as a system root through `SSL_CERT_FILE`
//! (read by rustls-native-certs as on Linux), and through a proxy named by `HTTPS_PROXY`,
//! as the SDK's default client honoured it. The roots are loaded once per process, so this
//! test has its own binary.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use mesa::policy::Bundle;
use mesa_aws::{Clients, S3RulesSource};
use mesa_tests::{Pki, emulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_functions_clients_reach_aws_over_tls_trusting_the_system_roots() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let (mut moto, port) = emulator::moto_over_tls(&pki.cert, &pki.key);
    let (proxy, tunnels) = connect_proxy().await;
    // SAFETY: set before any client exists, and this binary has no other test.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &pki.ca);
        std::env::set_var("HTTPS_PROXY", &proxy);
        // A NO_PROXY of the machine's own (often naming localhost) would bypass the proxy.
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        std::env::set_var("AWS_ENDPOINT_URL", format!("https://localhost:{port}"));
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let clients = Clients::from_env().await;

    // A raw mail kept and read back, as intake does.
    clients
        .s3
        .create_bucket()
        .bucket("mesa-tls")
        .send()
        .await
        .expect("bucket over TLS");
    let mail = b"From: cliente@norte.mx\r\nSubject: Checador sin registrar\r\n\r\nHola".to_vec();
    clients
        .s3
        .put_object()
        .bucket("mesa-tls")
        .key("inbound/1.eml")
        .body(ByteStream::from(mail.clone()))
        .send()
        .await
        .expect("put over TLS");
    let read = clients
        .s3
        .get_object()
        .bucket("mesa-tls")
        .key("inbound/1.eml")
        .send()
        .await
        .expect("get over TLS");
    assert_eq!(
        read.body.collect().await.unwrap().into_bytes().as_ref(),
        mail
    );

    let through_proxy = tunnels.lock().unwrap().clone();
    assert!(
        through_proxy.contains(&format!("localhost:{port}")),
        "HTTPS_PROXY was not used: {through_proxy:?}"
    );

    // A cold start's rules: published, then loaded and checked, over TLS.
    let bundle = Bundle::built_in();
    let version = bundle.version();
    clients
        .s3
        .put_bucket_versioning()
        .bucket("mesa-tls")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning over TLS");
    mesa_aws::s3::publish::publish(&clients.s3, "mesa-tls", "rules/bundle.json", bundle)
        .await
        .expect("rules published over TLS");
    let source = S3RulesSource::new(clients.s3.clone(), "mesa-tls", "rules/bundle.json");
    let policy = source.load_now().await.expect("rules read over TLS");
    assert_eq!(policy.expect("a published bundle").version(), &version);

    // And a server whose certificate no trusted root signed is refused.
    let other = tempfile::tempdir().unwrap();
    let unknown_ca = Pki::make(other.path());
    let (mut untrusted, untrusted_port) =
        emulator::moto_over_tls(&unknown_ca.cert, &unknown_ca.key);
    let config = clients
        .s3
        .config()
        .to_builder()
        .endpoint_url(format!("https://localhost:{untrusted_port}"))
        .build();
    let refused = aws_sdk_s3::Client::from_conf(config)
        .list_buckets()
        .send()
        .await;
    let error = refused.expect_err("a certificate from an unknown CA was accepted");
    let text = aws_sdk_s3::error::DisplayErrorContext(&error).to_string();
    assert!(
        text.contains("UnknownIssuer") || text.to_lowercase().contains("certificate"),
        "refused, but not for its certificate: {text}"
    );
    let _ = untrusted.kill();
    let _ = moto.kill();
}

/// A CONNECT proxy on loopback, as a site's HTTPS proxy would be: it tunnels each
/// connection to where the client asks, and remembers where that was.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let tunnels = Arc::new(Mutex::new(Vec::new()));
    let log = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split_whitespace().next())
                else {
                    return;
                };
                log.lock().unwrap().push(target.to_string());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (format!("http://{address}"), tunnels)
}
