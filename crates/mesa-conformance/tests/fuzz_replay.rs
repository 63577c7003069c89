//! Every fuzz target (`fuzz/`) over its seeds and over every input a fuzzer ever crashed on
//! (`fuzz/regressions/TARGET/`, kept with the fix), so `tests/run` holds what the fuzzers
//! found: the public mail corpus for e-mail intake, the form seeds for the JSON API, and the
//! labelled customer texts of the severity evaluation for the rules.

use std::path::{Path, PathBuf};

use mesa_conformance::fuzz;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `target` over each file, naming the one that panicked.
fn replay(target: fn(&[u8]), inputs: &[PathBuf]) {
    for path in inputs {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| target(&data)).is_err() {
            panic!("{} fails its fuzz target", path.display());
        }
    }
}

fn seeds_and_regressions(target: &str) -> Vec<PathBuf> {
    let fuzz = workspace().join("fuzz");
    let mut inputs = files(&fuzz.join("seeds").join(target));
    inputs.extend(files(&fuzz.join("regressions").join(target)));
    inputs
}

#[test]
fn email_intake_takes_every_public_corpus_message_and_every_past_crash() {
    let corpus = workspace().join("../shared/mail-corpus");
    let mut inputs: Vec<PathBuf> = files(&corpus)
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    assert!(
        inputs.len() >= 300,
        "the public mail corpus is missing at {}",
        corpus.display()
    );
    inputs.extend(seeds_and_regressions("email_intake"));
    replay(fuzz::email_intake, &inputs);
}

#[test]
fn the_form_api_takes_or_refuses_every_seed_and_every_past_crash() {
    let inputs = seeds_and_regressions("form_json");
    assert!(!inputs.is_empty());
    replay(fuzz::form_json, &inputs);
}

#[test]
fn the_rules_classify_every_labelled_customer_text_and_every_past_crash() {
    let eval = workspace().join("rules/tests/severity-eval");
    let mut tickets = 0;
    for file in files(&eval) {
        if file.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let Ok(case) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let facts = case["ticket"].to_string();
            fuzz::rules_classify(facts.as_bytes());
            // And its text alone, as the fuzzer's text mode reads bytes.
            fuzz::rules_classify(
                case["ticket"]["description"]
                    .as_str()
                    .unwrap_or("")
                    .as_bytes(),
            );
            tickets += 1;
        }
    }
    assert!(tickets >= 100, "{tickets} labelled tickets");
    replay(
        fuzz::rules_classify,
        &seeds_and_regressions("rules_classify"),
    );
}
