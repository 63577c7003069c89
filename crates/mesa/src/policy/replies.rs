//! Canned replies: texts staff start a reply from, kept in the bundle as `replies/*.txt`
//! (first line the title staff pick it by, then a blank line, then the text). Placeholders
//! are those of the ticket ([`REPLY_FIELDS`]); a reply that names another one refuses the
//! bundle at activation, not when staff pick it.

use serde::Serialize;

use super::{Bundle, Policy, PolicyError};

/// What a canned reply may name: `{{ contact_name }}`, `{{ company }}`, `{{ folio }}`,
/// `{{ subject }}`, `{{ company_name }}` (the support company).
pub const REPLY_FIELDS: [&str; 5] = [
    "contact_name",
    "company",
    "folio",
    "subject",
    "company_name",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CannedReply {
    /// The file name without `.txt`.
    pub id: String,
    pub title: String,
}

/// The facts a canned reply is filled with.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyContext {
    pub contact_name: String,
    pub company: String,
    pub folio: String,
    pub subject: String,
    pub company_name: String,
}

pub(super) struct CannedReplies {
    list: Vec<CannedReply>,
    env: minijinja::Environment<'static>,
}

fn err(file: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::Template {
        file: file.to_string(),
        message: message.into(),
    }
}

pub(super) fn load_replies(bundle: &Bundle) -> Result<CannedReplies, PolicyError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Plain text for the reply box: no HTML escaping here (the page escapes it).
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let sample = ReplyContext {
        contact_name: "Ana".into(),
        company: "Empresa".into(),
        folio: "ING-2026-000001".into(),
        subject: "Asunto".into(),
        company_name: "Soporte".into(),
    };
    let mut list = Vec::new();
    for (path, _) in bundle.files() {
        let Some(file) = path.strip_prefix("replies/") else {
            continue;
        };
        let name = format!("replies/{file}");
        let Some(id) = file.strip_suffix(".txt").filter(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        }) else {
            return Err(err(
                &name,
                "canned replies are replies/<name>.txt, the name in lower case letters, digits, - and _",
            ));
        };
        let text = bundle
            .text(path)
            .ok_or_else(|| err(&name, "is not UTF-8 text"))?;
        let (title, body) = text.split_once('\n').unwrap_or((text, ""));
        let title = title.trim();
        if title.is_empty() || body.trim().is_empty() {
            return Err(err(&name, "the first line is the title, then the text"));
        }
        env.add_template_owned(
            id.to_string(),
            body.trim_start_matches(['\r', '\n']).to_string(),
        )
        .map_err(|e| err(&name, format!("{e:#}")))?;
        env.get_template(id)
            .and_then(|t| t.render(&sample))
            .map_err(|e| {
                err(
                    &name,
                    format!("{e:#} (a reply may use {})", REPLY_FIELDS.join(", ")),
                )
            })?;
        list.push(CannedReply {
            id: id.to_string(),
            title: title.to_string(),
        });
    }
    Ok(CannedReplies { list, env })
}

impl Policy {
    /// The canned replies of the bundle, by file name.
    pub fn canned_replies(&self) -> &[CannedReply] {
        &self.replies.list
    }

    /// Canned reply `id` filled in for a ticket; `None` if the bundle has no such reply.
    pub fn canned_reply(&self, id: &str, context: &ReplyContext) -> Option<String> {
        if !self.replies.list.iter().any(|r| r.id == id) {
            return None;
        }
        self.replies
            .env
            .get_template(id)
            .and_then(|t| t.render(context))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(replies: &[(&str, &str)]) -> Bundle {
        let mut files: Vec<(String, Vec<u8>)> = Bundle::built_in()
            .files()
            .filter(|(p, _)| !p.starts_with("replies/"))
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect();
        files.extend(
            replies
                .iter()
                .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())),
        );
        Bundle::from_files(files).unwrap()
    }

    #[test]
    fn a_reply_is_filled_with_the_tickets_facts() {
        let b = bundle_with(&[(
            "replies/gracias.txt",
            "Gracias\n\nHola {{ contact_name }}, sobre {{ folio }}.\n",
        )]);
        let replies = load_replies(&b).unwrap();
        assert_eq!(
            replies.list,
            vec![CannedReply {
                id: "gracias".into(),
                title: "Gracias".into()
            }]
        );
        let text = replies
            .env
            .get_template("gracias")
            .unwrap()
            .render(ReplyContext {
                contact_name: "Ana <b>".into(),
                company: String::new(),
                folio: "ING-2026-000009".into(),
                subject: String::new(),
                company_name: String::new(),
            })
            .unwrap();
        assert_eq!(text, "Hola Ana <b>, sobre ING-2026-000009.");
    }

    #[test]
    fn a_reply_naming_an_unknown_field_refuses_the_bundle() {
        let b = bundle_with(&[("replies/malo.txt", "Malo\n\nHola {{ cliente }}.\n")]);
        let e = load_replies(&b).err().unwrap().to_string();
        assert!(
            e.contains("replies/malo.txt") && e.contains("contact_name"),
            "{e}"
        );
        let b = bundle_with(&[("replies/vacio.txt", "Solo título\n")]);
        assert!(load_replies(&b).is_err());
    }
}
