//! Real mail from public parser and bounce test suites (`shared/mail-corpus`, sources and
//! licences in its SOURCES.md; the labels in `tests/fixtures/mail-corpus-labels.tsv`): no
//! bounce, report, auto-reply or list mail becomes a ticket or gets an acknowledgement,
//! and the ordinary mail of the same corpora still becomes tickets.

use std::path::PathBuf;

use mesa::desk::EmailOutcomeKind;

use crate::harness::*;

fn corpus() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/mail-corpus"
    ))
}

/// Messages a header-and-sender detector cannot tell and a parser cannot read, each with
/// why: kept here so any other failure stands out, and so the gaps are written down.
const KNOWN_MISSES: &[(&str, &str)] = &[
    (
        "cpython-msg_36.txt",
        "an IETF announcement with no list or bulk header",
    ),
    (
        "rubymail-error_emails-cant_parse_from.eml",
        "a newsletter with no bulk header",
    ),
    (
        "rubymail-error_emails-content_transfer_encoding_with_8bits.eml",
        "a newsletter with no bulk header",
    ),
    (
        "rubymail-error_emails-invalid_subject_characters.eml",
        "marketing from info@, no bulk header",
    ),
    (
        "rubymail-error_emails-must_supply_encoding.eml",
        "marketing with no bulk header",
    ),
    (
        "rubymail-error_emails-new_line_in_to_header.eml",
        "a lead notice only its content gives away",
    ),
    (
        "rubymail-error_emails-trademark_character_in_subject.eml",
        "a lead notice only its subject gives away",
    ),
    (
        "rubymail-plain_emails-raw_email_with_bad_date.eml",
        "spam with no bulk header",
    ),
    (
        "rubymail-rfc6532-utf8_headers.eml",
        "a UTF-8 address (RFC 6532): we do not send to those",
    ),
    (
        "rubymail-mime_emails-raw_email11.eml",
        "a redacted sender, xxxxx@xxxxx, with no usable domain",
    ),
];

fn labels() -> Vec<(String, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/mail-corpus-labels.tsv"
    );
    std::fs::read_to_string(path)
        .expect("the corpus labels")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((
                f.next()?.to_string(),
                f.next()?.to_string(),
                f.next().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn robots_in_the_public_corpora_make_no_ticket_and_people_do() {
    let dir = corpus();
    assert!(
        dir.is_dir(),
        "the shared mail corpus is at {}",
        dir.display()
    );
    let mut wrong = Vec::new();
    let (mut robots, mut people) = (0, 0);
    for (file, label, why) in labels() {
        // Spam and notices that only their content gives away are not what robot
        // detection is for (no header says so); they are labelled but not asserted.
        if (label != "robot" && label != "person") || why.starts_with("content only") {
            continue;
        }
        let raw = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Each message on a desk of its own: no threading or duplicates between them.
        let h = harness();
        let out = h.desk.intake_email(&raw, h.desk.now()).await.unwrap();
        let acks = h.store.mail_items().len();
        match label.as_str() {
            "robot" => {
                robots += 1;
                if out.outcome == EmailOutcomeKind::Created || acks > 0 {
                    wrong.push(format!("robot taken as a customer: {file} ({why})"));
                }
            }
            _ => {
                people += 1;
                if out.outcome != EmailOutcomeKind::Created || acks != 1 {
                    wrong.push(format!(
                        "person not taken in: {file} ({why}): {:?} {:?}",
                        out.outcome, out.reason
                    ));
                }
            }
        }
    }
    assert!(
        robots >= 50 && people >= 50,
        "{robots} robots, {people} people"
    );
    // Every miss is one written down in KNOWN_MISSES, and every one written down still is.
    let unexpected: Vec<&String> = wrong
        .iter()
        .filter(|w| !KNOWN_MISSES.iter().any(|(file, _)| w.contains(file)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} of {} wrong:\n{}",
        unexpected.len(),
        robots + people,
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (file, why) in KNOWN_MISSES {
        assert!(
            wrong.iter().any(|w| w.contains(file)),
            "{file} ({why}) is now handled: take it off KNOWN_MISSES"
        );
    }
}
