//! The OpenAPI 3.1 document of the JSON API, served at `GET /openapi.json`.
//!
//! The schemas are generated from the Rust types the handlers read and answer (schemars
//! derives, which follow the types' serde attributes); the operations are listed here, one
//! per route of [`crate::json_routes`], and a test holds the two lists equal. The valid
//! support types come from the live rules each time the document is asked for, so an
//! integrator's client validates against what the desk accepts today.

use mesa::Policy;
use mesa::desk::{EmailOutcome, TicketDetail, TicketView, UploadGrant};
use mesa::intake::FormInput;
use mesa::lifecycle::Action;
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::bodies::{
    FieldProblems, Health, ListQuery, Problem, Queue, SetAsideMail, StatsQuery, TicketCreated,
    TicketPage, UploadRequest,
};

/// Where the schemas live in the document (`$ref`s point here).
const SCHEMAS: &str = "/components/schemas";

/// Schemas of answers (what the types serialize to) and of requests (what they accept),
/// gathered into one `components.schemas`.
struct Schemas {
    answers: SchemaGenerator,
    requests: SchemaGenerator,
}

impl Schemas {
    fn new() -> Self {
        let settings = |contract: Contract| {
            SchemaSettings::draft2020_12()
                .with(|s| {
                    s.definitions_path = SCHEMAS.into();
                    s.contract = contract;
                    s.meta_schema = None;
                })
                .into_generator()
        };
        Self {
            answers: settings(Contract::Serialize),
            requests: settings(Contract::Deserialize),
        }
    }

    fn answer<T: JsonSchema>(&mut self) -> Value {
        self.answers.subschema_for::<T>().to_value()
    }

    fn request<T: JsonSchema>(&mut self) -> Value {
        self.requests.subschema_for::<T>().to_value()
    }

    /// A query string's fields as OpenAPI parameters.
    fn query<T: JsonSchema>(&mut self) -> Vec<Value> {
        let schema: Schema = self.requests.root_schema_for::<T>();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .map(|(name, property)| {
                        let mut property = property.clone();
                        let description = property
                            .as_object_mut()
                            .and_then(|p| p.remove("description"))
                            .unwrap_or(Value::Null);
                        json!({
                            "name": name,
                            "in": "query",
                            "required": required.contains(&name.as_str()),
                            "description": description,
                            "schema": property,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every schema named by a `$ref`. A type whose request and answer schemas differ
    /// (fields with defaults are optional in a request and always present in an answer)
    /// keeps the answer's under its name and the request's under `<name>Input`.
    fn components(mut self, paths: &mut Value) -> Map<String, Value> {
        let mut all: Map<String, Value> = self.answers.take_definitions(true);
        let mut renamed = Vec::new();
        for (name, schema) in self.requests.take_definitions(true) {
            match all.get(&name) {
                Some(existing) if *existing != schema => {
                    let input = format!("{name}Input");
                    all.insert(input.clone(), schema);
                    renamed.push((name, input));
                }
                _ => {
                    all.insert(name, schema);
                }
            }
        }
        // Requests' `$ref`s to a renamed schema, in the operations and in other request
        // schemas, follow it.
        for (from, to) in &renamed {
            let from = format!("#{SCHEMAS}/{from}");
            let to = format!("#{SCHEMAS}/{to}");
            for request in paths
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
                .flat_map(|ops| ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()))
            {
                if let Some(body) = request.get_mut("requestBody") {
                    retarget(body, &from, &to);
                }
            }
            for (_, schema) in all.iter_mut().filter(|(name, _)| name.ends_with("Input")) {
                retarget(schema, &from, &to);
            }
        }
        all
    }
}

fn retarget(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" && v.as_str() == Some(from) {
                    *v = Value::String(to.into());
                } else {
                    retarget(v, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, from, to)),
        _ => {}
    }
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn answer(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

fn folio_parameter() -> Value {
    json!({
        "name": "folio",
        "in": "path",
        "required": true,
        "description": "The ticket's folio (as in the acknowledgement).",
        "schema": {"type": "string"},
    })
}

/// The document, with `policy`'s support types.
pub fn document(policy: &Policy) -> Value {
    let mut s = Schemas::new();
    let problem = s.answer::<Problem>();
    let fields = s.answer::<FieldProblems>();
    let refused = answer("Input refused: field → message.", fields.clone());
    let not_found = answer("No ticket with that folio.", problem.clone());
    let unauthorized = answer("Missing or wrong staff credential.", problem.clone());

    let mut paths = json!({
        "/health": {"get": {
            "operationId": "health",
            "summary": "Whether the service answers.",
            "tags": ["customers"],
            "responses": {"200": answer("It answers.", s.answer::<Health>())},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi",
            "summary": "This document.",
            "tags": ["customers"],
            "responses": {"200": {"description": "The OpenAPI document.",
                "content": {"application/json": {}}}},
        }},
        "/tickets": {"post": {
            "operationId": "submitTicket",
            "summary": "Report a problem: a ticket with its folio, acknowledged by e-mail.",
            "description": "`support_type` is one of the ids the rules offer today (its enum). \
                Send an `idempotency_key` so that a retried request is the same ticket. \
                Files go with the page's multipart form, or ahead of it through `/uploads`.",
            "tags": ["customers"],
            "requestBody": {"required": true, "content": json_content(s.request::<FormInput>())},
            "responses": {
                "201": answer("Taken in: the folio and the deadlines.", s.answer::<TicketCreated>()),
                "200": answer("The same idempotency key was already taken in: that ticket.", s.answer::<TicketCreated>()),
                "415": answer("Neither JSON nor a multipart form.", fields.clone()),
                "422": refused.clone(),
            },
        }},
        "/uploads": {"post": {
            "operationId": "startUpload",
            "summary": "Where to PUT one file too large to go with the form, and the token \
                to send in `upload_tokens` instead.",
            "tags": ["customers"],
            "requestBody": {"required": true, "content": json_content(s.request::<UploadRequest>())},
            "responses": {
                "201": answer("Upload the file there.", s.answer::<UploadGrant>()),
                "404": answer("Here files go with the form.", problem.clone()),
                "422": refused.clone(),
            },
        }},
        "/staff/queue": {"get": {
            "operationId": "queue",
            "summary": "Open tickets in the contract's order, with their clocks.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "responses": {"200": answer("The queue.", s.answer::<Queue>()), "401": unauthorized.clone()},
        }},
        "/staff/mail/set-aside": {"get": {
            "operationId": "setAsideMail",
            "summary": "Mail that became no ticket (robots, unregistered senders, quarantined), newest first.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "responses": {"200": answer("The mail.", s.answer::<SetAsideMail>()), "401": unauthorized.clone()},
        }},
        "/staff/stats": {"get": {
            "operationId": "statistics",
            "summary": "Response times and SLA compliance of a period, overall, by severity and by customer.",
            "description": "Each figure's definition and denominator is in `definitions`.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "parameters": s.query::<StatsQuery>(),
            "responses": {
                "200": answer("The statistics.", s.answer::<mesa::stats::Statistics>()),
                "401": unauthorized.clone(),
                "422": refused.clone(),
            },
        }},
        "/staff/tickets": {"get": {
            "operationId": "listTickets",
            "summary": "Tickets, newest first, a page at a time.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "parameters": s.query::<ListQuery>(),
            "responses": {
                "200": answer("One page.", s.answer::<TicketPage>()),
                "401": unauthorized.clone(),
                "422": refused.clone(),
            },
        }},
        "/staff/tickets/{folio}": {"get": {
            "operationId": "ticket",
            "summary": "One ticket with its clocks and its whole timeline.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "parameters": [folio_parameter()],
            "responses": {
                "200": answer("The ticket.", s.answer::<TicketDetail>()),
                "401": unauthorized.clone(),
                "404": not_found.clone(),
            },
        }},
        "/staff/tickets/{folio}/actions": {"post": {
            "operationId": "act",
            "summary": "A staff action on a ticket, recorded with who did it.",
            "description": "One of the actions (`action` names it). A step the ticket's stage \
                does not allow is a 409 and changes nothing.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "parameters": [folio_parameter()],
            "requestBody": {"required": true, "content": json_content(s.request::<Action>())},
            "responses": {
                "200": answer("The ticket after the action.", s.answer::<TicketView>()),
                "401": unauthorized.clone(),
                "404": not_found,
                "409": answer("Not allowed in the ticket's stage, or it changed meanwhile.", problem.clone()),
                "422": refused,
                "503": answer("The ticket kept changing; try again.", problem),
            },
        }},
        "/staff/inbound-email": {"post": {
            "operationId": "inboundEmail",
            "summary": "A raw e-mail (RFC 5322), as a mail server hands it over.",
            "tags": ["staff"],
            "security": [{"staff": []}],
            "requestBody": {"required": true, "content": {"message/rfc822": {"schema": {"type": "string"}}}},
            "responses": {
                "200": answer("What became of it.", s.answer::<EmailOutcome>()),
                "401": unauthorized,
            },
        }},
    });
    let mut schemas = s.components(&mut paths);
    offer_support_types(&mut schemas, policy);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("mesa — {}", policy.settings().company_name),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The service desk's JSON API: customers report problems; staff \
                work the tickets. Rules version in force: see each ticket's `rules_version`.",
        },
        "tags": [
            {"name": "customers", "description": "Open to anyone, as the web form is."},
            {"name": "staff", "description": "Staff only: `Authorization: Bearer …` (the \
                token `mesa serve` prints, or a Cognito ID token on AWS)."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"staff": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// `support_type` accepts the ids of the live rules' support types.
fn offer_support_types(schemas: &mut Map<String, Value>, policy: &Policy) {
    let ids: Vec<Value> = policy
        .support_types()
        .iter()
        .map(|t| Value::String(t.id.clone()))
        .collect();
    let labels: Vec<String> = policy
        .support_types()
        .iter()
        .map(|t| format!("`{}`: {}", t.id, t.label))
        .collect();
    for name in ["FormInput", "FormInputInput"] {
        if let Some(field) = schemas
            .get_mut(name)
            .and_then(|s| s.pointer_mut("/properties/support_type"))
            .and_then(Value::as_object_mut)
        {
            field.insert("enum".into(), Value::Array(ids.clone()));
            field.insert(
                "description".into(),
                Value::String(format!("One of: {}.", labels.join("; "))),
            );
        }
    }
}

/// The (method, path) of every operation the document describes.
#[cfg(test)]
fn operations(document: &Value) -> Vec<(axum::http::Method, String)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
            let method = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .expect("an HTTP method");
            all.push((method, path.clone()));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mesa::lifecycle::Action;
    use mesa::policy::Bundle;
    use mesa::ticket::ImpactScope;

    use super::*;

    fn built_in() -> Policy {
        Policy::activate(Bundle::built_in()).unwrap()
    }

    fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
        doc.pointer(&format!("{SCHEMAS}/{name}"))
            .unwrap_or_else(|| panic!("no schema {name}"))
    }

    #[test]
    fn every_json_route_is_documented_and_nothing_else() {
        let routes: BTreeSet<(String, String)> = crate::public_json_routes()
            .into_iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .chain(
                crate::staff_json_routes()
                    .into_iter()
                    .map(|r| (r.method.to_string(), format!("/staff{}", r.path))),
            )
            .collect();
        let documented: BTreeSet<(String, String)> = operations(&document(&built_in()))
            .into_iter()
            .map(|(m, p)| (m.to_string(), p))
            .collect();
        assert_eq!(routes, documented);
    }

    #[test]
    fn every_ref_names_a_schema_of_the_document() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => m.iter().for_each(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }),
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document(&built_in());
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 20, "{all:?}");
        for r in all {
            let pointer = r.strip_prefix('#').expect("a local $ref");
            assert!(doc.pointer(pointer).is_some(), "{r} names no schema");
        }
    }

    #[test]
    fn support_type_offers_exactly_the_live_rules_ids() {
        let policy = built_in();
        let doc = document(&policy);
        let offered = &schema(&doc, "FormInput")["properties"]["support_type"];
        let ids: Vec<Value> = policy
            .support_types()
            .iter()
            .map(|t| Value::String(t.id.clone()))
            .collect();
        assert!(ids.len() >= 3);
        assert_eq!(offered["enum"], Value::Array(ids));
        assert!(
            offered["description"]
                .as_str()
                .unwrap()
                .contains(&policy.support_types()[0].label)
        );
    }

    #[test]
    fn impact_scope_offers_the_four_answers() {
        let doc = document(&built_in());
        let field = &schema(&doc, "FormInput")["properties"]["impact_scope"];
        // Through a `$ref` or inline, the answers are an enum, not any string.
        let scope_schema = field
            .pointer("/anyOf/0/$ref")
            .or_else(|| field.pointer("/$ref"))
            .and_then(Value::as_str)
            .map(|r| doc.pointer(r.strip_prefix('#').unwrap()).unwrap().clone())
            .unwrap_or(field.clone());
        // An `enum`, or a `oneOf` of `const`s (each with its description).
        let answers: BTreeSet<String> = match scope_schema.get("enum") {
            Some(values) => values.as_array().unwrap().clone(),
            None => scope_schema["oneOf"]
                .as_array()
                .expect("an enum or a oneOf")
                .iter()
                .map(|v| v["const"].clone())
                .collect(),
        }
        .into_iter()
        .map(|v| v.as_str().expect("a string answer").to_string())
        .collect();
        let expected: BTreeSet<String> = ImpactScope::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        assert_eq!(answers, expected, "{scope_schema}");
    }

    #[test]
    fn the_actions_request_is_one_of_every_action() {
        let doc = document(&built_in());
        let action = schema(&doc, "Action");
        let names: BTreeSet<&str> = action["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .map(|variant| {
                variant
                    .pointer("/properties/action/const")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("a variant without its name: {variant}"))
            })
            .collect();
        assert_eq!(names, Action::NAMES.into_iter().collect());
    }
}
