//! Value types every other module builds on: ids, addresses, actors and keys that are
//! parsed once at the boundary and trusted after. This module imports nothing from the
//! crate, so everything may depend on it and it on nothing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Internal ticket id (a ULID: sortable by creation time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct TicketId(String);

impl TicketId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new().to_string())
    }

    /// Accepts a ULID as written by [`TicketId::new`].
    pub fn parse(s: &str) -> Option<Self> {
        ulid::Ulid::from_string(s).ok().map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TicketId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Human folio, `ING-2026-000123`: gapless per prefix and year, assigned by the store when
/// the ticket is written (so a ticket that does not exist yet has none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Folio(String);

impl Folio {
    /// The folio numbered `number` (from 1) of `prefix` in `year`.
    pub fn new(prefix: &str, year: i32, number: u64) -> Self {
        Self(format!("{prefix}-{year:04}-{number:06}"))
    }

    /// Parses `PREFIX-YYYY-NNNNNN` (prefix 2–10 capital letters, 6 or more digits).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut parts = s.split('-');
        let (prefix, year, number) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = parts.next().is_none()
            && (2..=10).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_uppercase())
            && year.len() == 4
            && year.bytes().all(|b| b.is_ascii_digit())
            && number.len() >= 6
            && number.len() <= 12
            && number.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Self(s.to_string()))
    }

    /// The first folio tag `[PREFIX-YYYY-NNNNNN]` of `prefix` in a subject line, as our mails
    /// set it.
    pub fn find_tag_in(subject: &str, prefix: &str) -> Option<Self> {
        let mut rest = subject;
        while let Some(open) = rest.find('[') {
            rest = &rest[open + 1..];
            if let Some(close) = rest.find(']') {
                if let Some(f) = Self::parse(&rest[..close]) {
                    if f.prefix() == prefix {
                        return Some(f);
                    }
                }
            }
        }
        None
    }

    /// The first folio of `prefix` written bare in a subject line, in any case, as customers
    /// retype it ("Re: Folio ING-2026-000123", "seguimiento ing-2026-000123").
    pub fn find_bare_in(subject: &str, prefix: &str) -> Option<Self> {
        subject
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter_map(|word| Self::parse(&word.to_ascii_uppercase()))
            .find(|f| f.prefix() == prefix)
    }

    pub fn prefix(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Folio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Content hash of a rules bundle; every ticket records the one it was handled under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct RulesVersion(String);

impl RulesVersion {
    /// `r-` and the first 16 hex digits of the bundle's SHA-256.
    pub fn from_digest_hex(hex: &str) -> Self {
        Self(format!("r-{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RulesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of message an outbox item is; each has its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// Automatic acknowledgement of a new ticket.
    Ack,
    /// A staff message to the customer.
    Reply,
    /// The solution sent to the customer.
    Answer,
    /// The satisfaction request sent on closing.
    Csat,
    /// Staff confirmed or changed the severity: the new one, why, and the new deadlines.
    Severity,
    /// The ticket waits on the customer: what support needs from them.
    Waiting,
    /// The root-cause solution of a critical report.
    RootCause,
    /// A critical report paged to the on-call staff (through the desk's pager, not to
    /// the customer).
    Page,
    /// A step of the warranty replacement of the customer's device.
    Replacement,
    /// A milestone at risk, to the ticket's owner (or the team): within business hours,
    /// except for severity 1. The item's body names the milestone.
    SlaWarning,
    /// A major incident's notice to a customer (declared, updated, resolved); its item's
    /// `ticket_id` is the incident's id.
    Incident,
    /// Not mail: a domain event for other systems (EventBridge on AWS), written with the
    /// ticket change it announces and delivered at least once through the desk's event bus.
    /// Its body is the `seq` of the ticket's event it announces.
    Event,
}

impl MailKind {
    pub const ALL: [MailKind; 12] = [
        MailKind::Ack,
        MailKind::Reply,
        MailKind::Answer,
        MailKind::Csat,
        MailKind::Severity,
        MailKind::Waiting,
        MailKind::RootCause,
        MailKind::Page,
        MailKind::Replacement,
        MailKind::SlaWarning,
        MailKind::Incident,
        MailKind::Event,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Ack => "ack",
            MailKind::Reply => "reply",
            MailKind::Answer => "answer",
            MailKind::Csat => "csat",
            MailKind::Severity => "severity",
            MailKind::Waiting => "waiting",
            MailKind::RootCause => "root_cause",
            MailKind::Page => "page",
            MailKind::Replacement => "replacement",
            MailKind::SlaWarning => "sla_warning",
            MailKind::Incident => "incident",
            MailKind::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Mail to staff, not to the customer: it neither threads replies nor counts as contact.
    pub fn to_staff(self) -> bool {
        matches!(self, MailKind::Page | MailKind::SlaWarning)
    }

    /// Whether a reply to it belongs to the ticket: mail to the customer only (not staff
    /// mail, not an event).
    pub fn threads_replies(self) -> bool {
        !self.to_staff() && self != MailKind::Event
    }

    /// Its mail template; none for an event.
    pub fn template(self) -> Option<&'static str> {
        Some(match self {
            MailKind::Ack => "ack.txt",
            MailKind::Reply => "reply.txt",
            MailKind::Answer => "answer.txt",
            MailKind::Csat => "csat.txt",
            MailKind::Severity => "severity.txt",
            MailKind::Waiting => "waiting.txt",
            MailKind::RootCause => "root_cause.txt",
            MailKind::Page => "page.txt",
            MailKind::Replacement => "replacement.txt",
            MailKind::SlaWarning => "sla_warning.txt",
            MailKind::Incident => "incident.txt",
            MailKind::Event => return None,
        })
    }
}

/// An e-mail address we are willing to write to or look up: one `@`, no spaces, no control
/// or header-special characters, a dotted domain; stored lower case, so two spellings of one
/// address compare equal everywhere (registry, caps, threading).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable e-mail address: {0:?}")]
pub struct BadEmailAddress(pub String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, BadEmailAddress> {
        let a = raw.trim();
        let bad = || BadEmailAddress(raw.chars().take(100).collect());
        let (local, domain) = a.split_once('@').ok_or_else(bad)?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && a.len() <= 254
            && !domain.contains('@')
            && a.chars()
                .all(|c| c.is_ascii_graphic() && !"<>()[],;:\"\\".contains(c));
        if ok {
            Ok(Self(a.to_ascii_lowercase()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// Free-mail domains: the same domain there says nothing about being the same company.
    pub fn is_public_mail_domain(&self) -> bool {
        is_public_mail_domain(self.domain())
    }
}

/// The one form in which an address (or a mail domain) is stored and looked up: trimmed and
/// lower case. An [`EmailAddress`] is already in it; this is for keys built from stored
/// text that may be empty (a registry row for a whole domain has no address).
pub fn address_key(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// Free-mail providers, where two addresses of one domain are not one company.
pub fn is_public_mail_domain(domain: &str) -> bool {
    matches!(
        domain,
        "gmail.com"
            | "googlemail.com"
            | "hotmail.com"
            | "outlook.com"
            | "live.com"
            | "yahoo.com"
            | "yahoo.com.mx"
            | "icloud.com"
            | "aol.com"
            | "prodigy.net.mx"
            | "protonmail.com"
            | "proton.me"
    )
}

impl TryFrom<String> for EmailAddress {
    type Error = BadEmailAddress;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(a: EmailAddress) -> String {
        a.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who did something to a ticket. Written as `customer`, `rules`, `system`, `sweep` or
/// `staff:<name>` (the form every stored event already has).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(from = "String", into = "String")]
pub enum Actor {
    /// The customer (their mail, form or survey answer).
    Customer,
    /// The contract's scripts (the provisional severity).
    Rules,
    /// mesa itself (acknowledgements, mail feedback).
    System,
    /// The SLA sweep.
    Sweep,
    /// A staff member, by the name or address they signed in with.
    Staff(String),
}

impl Actor {
    /// A staff member; blank names become `staff:desconocido` rather than an empty actor.
    pub fn staff(name: &str) -> Self {
        let name: String = name
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect::<String>()
            .trim()
            .to_string();
        let name = name
            .strip_prefix("staff:")
            .map(str::to_string)
            .unwrap_or(name);
        if name.is_empty() {
            Actor::Staff("desconocido".into())
        } else {
            Actor::Staff(name)
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Actor::Staff(_))
    }
}

impl From<String> for Actor {
    fn from(s: String) -> Self {
        match s.as_str() {
            "customer" => Actor::Customer,
            "rules" => Actor::Rules,
            "system" => Actor::System,
            "sweep" => Actor::Sweep,
            other => Actor::staff(other),
        }
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.to_string()
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Customer => f.write_str("customer"),
            Actor::Rules => f.write_str("rules"),
            Actor::System => f.write_str("system"),
            Actor::Sweep => f.write_str("sweep"),
            Actor::Staff(name) => write!(f, "staff:{name}"),
        }
    }
}

impl PartialEq<&str> for Actor {
    fn eq(&self, other: &&str) -> bool {
        match self {
            Actor::Staff(name) => other.strip_prefix("staff:") == Some(name.as_str()),
            Actor::Customer => *other == "customer",
            Actor::Rules => *other == "rules",
            Actor::System => *other == "system",
            Actor::Sweep => *other == "sweep",
        }
    }
}

/// A key that makes a second copy of the same submission a duplicate of the first: written
/// atomically with the ticket, so two concurrent copies cannot both create one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DedupeKey {
    /// The nonce of a signed form token (one web form, one ticket).
    Form(String),
    /// A JSON client's `idempotency_key`.
    Api(String),
    /// The customer's Message-ID.
    MessageId(String),
    /// SHA-256 of the raw message (hex), for mail without a usable Message-ID.
    Raw(String),
    /// The mail receiver's own id (SES message id): a redelivery.
    Receiver(String),
}

impl DedupeKey {
    /// The stored form, `form:…`, `api:…`, `msgid:…`, `raw:…`, `receiver:…`.
    pub fn as_key(&self) -> String {
        match self {
            DedupeKey::Form(v) => format!("form:{v}"),
            DedupeKey::Api(v) => format!("api:{v}"),
            DedupeKey::MessageId(v) => format!("msgid:{v}"),
            DedupeKey::Raw(v) => format!("raw:{v}"),
            DedupeKey::Receiver(v) => format!("receiver:{v}"),
        }
    }
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folio_format_and_parse() {
        let f = Folio::new("ING", 2026, 123);
        assert_eq!(f.as_str(), "ING-2026-000123");
        assert_eq!(Folio::parse("ING-2026-000123"), Some(f.clone()));
        assert_eq!(Folio::parse("ING-2026-1"), None);
        assert_eq!(Folio::parse("ing-2026-000123"), None);
        assert_eq!(Folio::parse("ING-2026-000123-x"), None);
        assert_eq!(
            Folio::find_tag_in("Re: [ING-2026-000123] Lectores", "ING"),
            Some(f.clone())
        );
        assert_eq!(
            Folio::find_tag_in("Re: [XYZ-2026-000123] Lectores", "ING"),
            None
        );
        assert_eq!(
            Folio::find_tag_in("Re: [nada] [ING-2027-000001]", "ING")
                .unwrap()
                .as_str(),
            "ING-2027-000001"
        );
        // Retyped by the customer, without brackets.
        for subject in [
            "Re: Folio ING-2026-000123",
            "RE: ING-2026-000123",
            "seguimiento al folio ing-2026-000123, sigue igual",
            "Folio:ING-2026-000123.",
        ] {
            assert_eq!(Folio::find_tag_in(subject, "ING"), None, "{subject}");
            assert_eq!(
                Folio::find_bare_in(subject, "ING"),
                Some(f.clone()),
                "{subject}"
            );
        }
        // Other prefixes and near misses are not one.
        for subject in [
            "XYZ-2026-000123",
            "ING-2026-12",
            "ING-2026-000123-2",
            "Orden ING2026000123",
        ] {
            assert_eq!(Folio::find_bare_in(subject, "ING"), None, "{subject}");
        }
    }

    #[test]
    fn addresses_are_checked_and_lower_cased_once() {
        let a = EmailAddress::parse("  Ana.Perez@Bajio.COM.mx ").unwrap();
        assert_eq!(a.as_str(), "ana.perez@bajio.com.mx");
        assert_eq!(a.domain(), "bajio.com.mx");
        assert_eq!(a, EmailAddress::parse("ana.perez@bajio.com.mx").unwrap());
        for bad in [
            "ana@localhost",
            "ana @bajio.mx",
            "ana@bajio.mx\r\nBcc: x@y.z",
            "a@b@c.mx",
            "<ana@bajio.mx>",
            "",
            "@bajio.mx",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
        let json: Result<EmailAddress, _> = serde_json::from_str("\"x\"");
        assert!(json.is_err());
        assert!(
            EmailAddress::parse("x@gmail.com")
                .unwrap()
                .is_public_mail_domain()
        );
    }

    #[test]
    fn actors_keep_their_stored_form() {
        for (actor, text) in [
            (Actor::Customer, "customer"),
            (Actor::Rules, "rules"),
            (Actor::System, "system"),
            (Actor::Sweep, "sweep"),
            (Actor::staff("luisa"), "staff:luisa"),
        ] {
            assert_eq!(actor.to_string(), text);
            assert_eq!(serde_json::to_value(&actor).unwrap(), text);
            let back: Actor = serde_json::from_value(text.into()).unwrap();
            assert_eq!(back, actor);
        }
        assert_eq!(Actor::staff("staff:luisa"), Actor::staff("luisa"));
        assert_eq!(Actor::staff(" \r\n"), Actor::Staff("desconocido".into()));
    }

    #[test]
    fn dedupe_keys_have_distinct_namespaces() {
        let v = "abc".to_string();
        let keys: std::collections::HashSet<String> = [
            DedupeKey::Form(v.clone()),
            DedupeKey::Api(v.clone()),
            DedupeKey::MessageId(v.clone()),
            DedupeKey::Raw(v.clone()),
            DedupeKey::Receiver(v),
        ]
        .iter()
        .map(DedupeKey::as_key)
        .collect();
        assert_eq!(keys.len(), 5);
    }
}
