//! The workspace as the http-api function serves it on AWS: requests as API Gateway sends
//! them (cookies in the event's `cookies`), sign-in through a Cognito-shaped token endpoint
//! (an axum server on loopback standing in for the user pool's domain), tickets in the
//! DynamoDB emulator.

use std::collections::HashMap;

use axum::http::header;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_api::cognito::Cognito;
use sha2::{Digest, Sha256};

use super::*;

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_mesa";
const CLIENT: &str = "web-client";

type Captured = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A token endpoint like the pool's: the code `ana` is Ana, a lead; `otra-app` is an ID
/// token issued to another client. Every form it receives is kept.
async fn fake_user_pool() -> (String, Captured) {
    let captured: Captured = Arc::default();
    let seen = captured.clone();
    let app = axum::Router::new().route(
        "/oauth2/token",
        axum::routing::post(
            move |axum::Form(form): axum::Form<HashMap<String, String>>| {
                let seen = seen.clone();
                async move {
                    let aud = if form.get("code").map(String::as_str) == Some("otra-app") {
                        "otra-app"
                    } else {
                        CLIENT
                    };
                    seen.lock().unwrap().push(form);
                    let claims = json!({
                        "iss": ISSUER, "aud": aud, "token_use": "id",
                        "exp": Utc::now().timestamp() + 3600,
                        "email": "ana@ingressio.com", "email_verified": true, "name": "Ana Ruiz",
                        "cognito:groups": ["leads"],
                    });
                    let id_token = format!(
                        "eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJh",
                        URL_SAFE_NO_PAD.encode(claims.to_string())
                    );
                    axum::Json(json!({"id_token": id_token, "token_type": "Bearer"}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, captured)
}

/// A request as API Gateway (HTTP API, payload 2.0) hands it to the function.
fn apigw(
    method: &str,
    path: &str,
    query: &str,
    cookies: &[String],
    form: Option<&str>,
) -> lambda_http::Request {
    let mut e = fixture("apigw-http-health.json");
    e["routeKey"] = json!("ANY /panel/{proxy+}");
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    // Whatever a client claims, the workspace records the signed-in person.
    e["headers"]["x-mesa-actor"] = json!("jefe");
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if let Some(body) = form {
        e["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
        e["body"] = json!(body);
    }
    lambda_http::request::from_str(&e.to_string()).expect("an API Gateway event")
}

struct Answer {
    status: u16,
    location: String,
    cookies: Vec<String>,
    body: String,
}

async fn send(app: &axum::Router, request: lambda_http::Request) -> Answer {
    let r = app.clone().oneshot(request).await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let cookies = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .filter(|c| !c.ends_with('='))
        .collect();
    let bytes = axum::body::to_bytes(r.into_body(), 4 << 20).await.unwrap();
    Answer {
        status,
        location,
        cookies,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_to_the_workspace_through_the_user_pool_and_their_actions_name_them() {
    let env = env().await;
    let (customer, ses_id) = customer_writes(&env, "Algunos lectores no registran.").await;
    let out = intake_email::handle(&env.wiring, lambda(ses_event(&ses_id, "PASS")))
        .await
        .unwrap();
    let folio = out["outcomes"][0]["folio"].as_str().unwrap().to_string();
    assert!(!customer.is_empty());

    let (pool, captured) = fake_user_pool().await;
    let cognito = Arc::new(Cognito::new(&pool, CLIENT, ISSUER));
    let app = http_api::app_with(env.wiring.desk.clone(), Some(cognito), None);

    // A stranger is sent to sign in, and from there to the pool's hosted sign-in with a
    // state and a PKCE challenge.
    let a = send(&app, apigw("GET", "/panel/", "", &[], None)).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/panel/entrar"));
    let a = send(&app, apigw("GET", "/panel/entrar", "", &[], None)).await;
    assert_eq!(a.status, 303);
    assert!(
        a.location.starts_with(&format!("{pool}/oauth2/authorize?")),
        "{}",
        a.location
    );
    let asked = query_of(&a.location);
    assert_eq!(asked["client_id"], CLIENT);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(
        asked["redirect_uri"],
        "https://soporte.example.com/panel/entrar/cognito"
    );
    let presession = a.cookies.clone();
    assert!(presession[0].starts_with("mesa_previo="), "{presession:?}");
    let state = asked["state"].clone();
    // No password is checked here on AWS.
    let form = "email=ana%40ingressio.com&password=x&_csrf=y";
    let a = send(
        &app,
        apigw("POST", "/panel/entrar", "", &presession, Some(form)),
    )
    .await;
    assert_eq!(a.status, 404);

    // Back from the pool: a state that is not this browser's is refused, and so is an ID
    // token issued to another client.
    let back = |code: &str, state: &str| format!("code={}&state={}", enc(code), enc(state));
    let a = send(
        &app,
        apigw(
            "GET",
            "/panel/entrar/cognito",
            &back("ana", "otro"),
            &presession,
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 403);
    let a = send(
        &app,
        apigw(
            "GET",
            "/panel/entrar/cognito",
            &back("ana", &state),
            &[],
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 403, "the state without this browser's cookie");
    let a = send(
        &app,
        apigw(
            "GET",
            "/panel/entrar/cognito",
            &back("otra-app", &state),
            &presession,
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(a.cookies.iter().all(|c| !c.contains("mesa_sesion")));

    let a = send(
        &app,
        apigw(
            "GET",
            "/panel/entrar/cognito",
            &back("ana", &state),
            &presession,
            None,
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/panel/"),
        "{}",
        a.body
    );
    let session: Vec<String> = a
        .cookies
        .iter()
        .filter(|c| c.starts_with("__Host-mesa_sesion="))
        .cloned()
        .collect();
    assert_eq!(
        session.len(),
        1,
        "an HTTPS public URL gets a __Host- cookie: {:?}",
        a.cookies
    );
    // The code went with the verifier whose S256 is the challenge sent to the pool.
    let form = captured.lock().unwrap().last().cloned().unwrap();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["redirect_uri"], asked["redirect_uri"]);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(form["code_verifier"].as_bytes())),
        asked["code_challenge"]
    );

    // The queue lists the ticket from DynamoDB; a note is recorded as Ana, whatever the
    // client's X-Mesa-Actor says; her account exists as a lead.
    let a = send(&app, apigw("GET", "/panel/", "", &session, None)).await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains(&format!("data-folio=\"{folio}\"")),
        "{}",
        a.body
    );
    assert!(a.body.contains("Ana Ruiz (líder)"));
    let page = send(
        &app,
        apigw(
            "GET",
            &format!("/panel/tickets/{folio}"),
            "",
            &session,
            None,
        ),
    )
    .await;
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let at = page.body.find(&marker).unwrap() + marker.len();
        page.body[at..].split('"').next().unwrap().to_string()
    };
    let note = format!(
        "_csrf={}&visto={}&accion=note&text={}",
        enc(&field("_csrf")),
        field("visto"),
        enc("Revisar con el cliente.")
    );
    let a = send(
        &app,
        apigw(
            "POST",
            &format!("/panel/tickets/{folio}"),
            "",
            &session,
            Some(&note),
        ),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let detail = env.wiring.desk.detail(&folio).await.unwrap();
    let last = detail.events.last().unwrap();
    assert_eq!(last.actor, mesa::model::Actor::staff("ana@ingressio.com"));
    let ana = env.wiring.desk.staff_members().await.unwrap();
    assert!(
        ana.iter()
            .any(|m| m.email == "ana@ingressio.com" && m.is_lead() && m.password_hash.is_none())
    );

    // Signing out ends the session and sends the browser to the pool's sign-out.
    let out = format!("_csrf={}", enc(&field("_csrf")));
    let a = send(
        &app,
        apigw("POST", "/panel/salir", "", &session, Some(&out)),
    )
    .await;
    assert_eq!(a.status, 303);
    assert!(
        a.location
            .starts_with(&format!("{pool}/logout?client_id={CLIENT}")),
        "{}",
        a.location
    );
    let a = send(&app, apigw("GET", "/panel/", "", &session, None)).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/panel/entrar"));
}
