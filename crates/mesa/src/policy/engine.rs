//! The one Rhai engine builder, used by production and by the tests alike.
//!
//! Scripts are data to us, written by support operations, so the engine is a sandbox: no
//! `eval`, no file, network or environment access (Rhai has none unless registered), imports
//! only from inside the bundle, and limits on operations, call depth, expression depth and
//! the size of strings, arrays and maps. A wall-clock guard stops any call that runs longer
//! than [`CALL_TIME_LIMIT`] even if the operation count would allow it.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Weekday};
use rhai::{
    Array, Dynamic, Engine, EvalAltResult, Module, NativeCallContext, Position, Scope, Shared,
};
use unicode_normalization::UnicodeNormalization;

use super::phrases::{PhraseCache, folded, replace_phrase_map, replace_phrases};

pub const MAX_OPERATIONS: u64 = 2_000_000;
pub const MAX_CALL_LEVELS: usize = 32;
pub const MAX_EXPR_DEPTH: usize = 64;
pub const MAX_FN_EXPR_DEPTH: usize = 32;
/// In bytes: room for the longest text intake takes (`MAX_DESCRIPTION_CHARS` characters, up
/// to four bytes each) joined with its subject and rewritten by the scripts, with margin; a
/// runaway string stops here within a few doublings.
pub const MAX_STRING_SIZE: usize = 1024 * 1024;
pub const MAX_ARRAY_SIZE: usize = 10_000;
pub const MAX_MAP_SIZE: usize = 10_000;
pub const MAX_MODULES: usize = 16;
pub const CALL_TIME_LIMIT: Duration = Duration::from_millis(500);

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Arms the wall-clock guard for the script call made while the returned value lives.
pub(crate) struct CallDeadline(Option<Instant>);

impl CallDeadline {
    pub(crate) fn arm() -> Self {
        let previous = DEADLINE.with(|d| d.replace(Some(Instant::now() + CALL_TIME_LIMIT)));
        Self(previous)
    }
}

impl Drop for CallDeadline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.0));
    }
}

/// Builds the sandboxed engine. `modules` are the bundle's importable scripts, by path
/// without the `.rhai` extension (e.g. `lib/dates`).
pub fn build_engine(modules: HashMap<String, String>) -> Engine {
    let mut engine = Engine::new();
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH);
    engine.set_max_string_size(MAX_STRING_SIZE);
    engine.set_max_array_size(MAX_ARRAY_SIZE);
    engine.set_max_map_size(MAX_MAP_SIZE);
    engine.set_max_modules(MAX_MODULES);
    engine.set_module_resolver(BundleModules { sources: modules });
    engine.on_progress(|ops| {
        // Reading the clock is cheap, but not free: look every few thousand operations.
        if ops % 4096 == 0 {
            let late = DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() > at));
            if late {
                return Some(Dynamic::from("script ran past its time limit"));
            }
        }
        None
    });
    engine.on_print(|text| tracing::info!(target: "mesa::rules", "{text}"));
    engine.on_debug(|text, source, pos| {
        tracing::debug!(target: "mesa::rules", source = source.unwrap_or(""), %pos, "{text}")
    });
    register_helpers(&mut engine);
    // No clock for the scripts: a rule is a function of its input alone, which the
    // milestone memo and the test vectors both rely on.
    engine.register_fn("timestamp", || -> Result<Dynamic, Box<EvalAltResult>> {
        Err("the rules have no clock: decide from the ticket's facts".into())
    });
    engine
}

/// Imports resolve only to scripts of the same bundle.
struct BundleModules {
    sources: HashMap<String, String>,
}

impl rhai::ModuleResolver for BundleModules {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let key = path.strip_suffix(".rhai").unwrap_or(path);
        let not_found = || Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos));
        if key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(not_found());
        }
        let source = self.sources.get(key).ok_or_else(not_found)?;
        let mut ast = engine
            .compile(source)
            .map_err(|e| EvalAltResult::ErrorInModule(path.to_string(), e.into(), pos))?;
        ast.set_source(format!("{key}.rhai"));
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| EvalAltResult::ErrorInModule(path.to_string(), e, pos))?;
        Ok(module.into())
    }
}

fn register_helpers(engine: &mut Engine) {
    engine.register_fn("fold", |s: &str| fold(s));
    let phrases = Arc::new(PhraseCache::default());
    let cache = phrases.clone();
    engine.register_fn("find_any", move |text: &str, list: Array| {
        cache.find_any(text, list)
    });
    let cache = phrases.clone();
    engine.register_fn("find_all", move |text: &str, list: Array| {
        cache.find_all(text, list)
    });
    let cache = phrases.clone();
    engine.register_fn("find_signals", move |text: &str, lists: rhai::Map| {
        cache.find_signals(text, lists)
    });
    engine.register_fn(
        "find_signals",
        move |context: NativeCallContext, text: &str, function: &str| {
            phrases.find_named_signals(&context, text, function)
        },
    );
    engine.register_fn("replace_phrases", replace_phrases);
    engine.register_fn("replace_phrases", replace_phrase_map);
    engine.register_fn("replace_words", replace_words);
    engine.register_fn("fraction_scope", fraction_scope);
    engine.register_fn("date", date);
    engine.register_fn("nth_weekday", nth_weekday);
    engine.register_fn("weekday", weekday_of);
}

/// Lower case, accents and diacritics removed, runs of whitespace made one space: what the
/// keyword rules compare, so that "CAÍDO" and "caido" are the same word. One pass; only
/// non-ASCII characters go through Unicode decomposition (this runs on every new ticket).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            for d in std::iter::once(c).nfd() {
                if !unicode_normalization::char::is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            }
        }
    }
    out
}

/// `text` (folded) with whole words replaced by the map's values: abbreviations and common
/// misspellings (`xq` → `porque`, `nungun` → `ningun`) before the phrase lists are matched.
fn replace_words(text: &str, words: rhai::Map) -> String {
    let text = fold(text);
    let mut out = String::with_capacity(text.len() + 16);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        match words
            .get(word.as_str())
            .and_then(|v| v.clone().into_immutable_string().ok())
        {
            Some(replacement) => out.push_str(&replacement),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The scope a count like "3 de 40 lectores" or "12 de 12 checadores" states: `"all"` when
/// every one is affected, `"one"` for one of many, `"several"` for some, `""` when the text
/// has no such count. Hand-written: a regex crate for one pattern is more than it needs.
fn fraction_scope(text: &str) -> String {
    let text = folded(text);
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let Ok(n) = w.parse::<u32>() else { continue };
        // "3 de 40", "3 de los 40", "3 de nuestros 12", "3 out of our 7"
        let mut j = match (words.get(i + 1), words.get(i + 2)) {
            (Some(&"de"), _) => i + 2,
            (Some(&"out"), Some(&"of")) => i + 3,
            _ => continue,
        };
        if matches!(
            words.get(j),
            Some(&"los" | &"las" | &"nuestros" | &"nuestras" | &"our" | &"the")
        ) {
            j += 1;
        }
        let Some(Ok(m)) = words.get(j).map(|x| x.parse::<u32>()) else {
            continue;
        };
        if m == 0 || n > m {
            continue;
        }
        return match (n, m) {
            (n, m) if n == m => "all",
            (0, _) => "",
            (1, m) if m > 1 => "one",
            _ => "several",
        }
        .to_string();
    }
    String::new()
}

fn script_error(message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message),
        Position::NONE,
    ))
}

fn ymd(year: i64, month: i64, day: i64) -> Result<NaiveDate, Box<EvalAltResult>> {
    let bad = || script_error(format!("no such date: {year}-{month}-{day}"));
    let y = i32::try_from(year).map_err(|_| bad())?;
    let m = u32::try_from(month).map_err(|_| bad())?;
    let d = u32::try_from(day).map_err(|_| bad())?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad)
}

/// `date(2026, 9, 16)` → `"2026-09-16"` (an error if there is no such day).
fn date(year: i64, month: i64, day: i64) -> Result<String, Box<EvalAltResult>> {
    Ok(ymd(year, month, day)?.format("%Y-%m-%d").to_string())
}

fn parse_weekday(name: &str) -> Result<Weekday, Box<EvalAltResult>> {
    name.parse::<Weekday>()
        .map_err(|_| script_error(format!("no such weekday: {name:?} (use \"mon\" … \"sun\")")))
}

/// `nth_weekday(2026, 2, "mon", 1)` → the first Monday of February 2026; `n = -1` is the last.
fn nth_weekday(year: i64, month: i64, weekday: &str, n: i64) -> Result<String, Box<EvalAltResult>> {
    let wd = parse_weekday(weekday)?;
    let first = ymd(year, month, 1)?;
    let found = match n {
        1..=5 => NaiveDate::from_weekday_of_month_opt(first.year(), first.month(), wd, n as u8),
        -1 => (1..=5)
            .rev()
            .find_map(|k| NaiveDate::from_weekday_of_month_opt(first.year(), first.month(), wd, k)),
        _ => None,
    };
    found
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            script_error(format!(
                "there is no {weekday} number {n} in {year}-{month:02}"
            ))
        })
}

/// `weekday("2026-09-16")` → `"wed"`.
fn weekday_of(date: &str) -> Result<String, Box<EvalAltResult>> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| script_error(format!("not a date: {date:?} (expected YYYY-MM-DD)")))?;
    Ok(d.weekday().to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        build_engine(HashMap::from([(
            "lib/util".to_string(),
            "fn double(x) { x * 2 }".to_string(),
        )]))
    }

    #[test]
    fn fold_removes_case_accents_and_extra_spaces() {
        assert_eq!(
            fold("  El Servicio  está CAÍDO\n"),
            "el servicio esta caido"
        );
        assert_eq!(fold("Ningún BIOMÉTRICO"), "ningun biometrico");
        assert_eq!(fold("¿Cómo?\t\tÑandú "), "¿como? nandu");
        assert_eq!(folded("ya plegado"), "ya plegado");
        assert!(matches!(
            folded("ya plegado"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(folded("No  Plegado"), "no plegado");
    }

    #[test]
    fn text_helpers_for_the_classifier() {
        let e = engine();
        let found: Vec<String> = e
            .eval::<Array>(
                r#"find_all("Los LECTORES están lentos; el resto funciona", ["lento", "resto", "ento", "caido"])"#,
            )
            .unwrap()
            .into_iter()
            .map(|d| d.into_string().unwrap())
            .collect();
        // "ento" is inside "lentos", not at a word start.
        assert_eq!(found, ["lento", "resto"]);
        assert_eq!(
            e.eval::<String>(r#"replace_words("Nadien puede checar xq NUNGUN lector jala", #{ nadien: "nadie", xq: "porque", nungun: "ningun" })"#)
                .unwrap(),
            "nadie puede checar porque ningun lector jala"
        );
        for (text, scope) in [
            ("fallan 3 de 40 lectores", "several"),
            ("0 de 27 terminales en linea", ""),
            ("12 de 12 checadores sin conexion", "all"),
            ("1 de los 20 relojes", "one"),
            ("3 out of our 7 sites are offline", "several"),
            ("4 de nuestros 9 restaurantes", "several"),
            ("el 3 de mayo", ""),
            ("41 de 40", ""),
        ] {
            assert_eq!(fraction_scope(text), scope, "{text}");
        }
    }

    #[test]
    fn find_signals_reads_a_scripts_lists_once_by_function_name() {
        let e = engine();
        let found: rhai::Map = e
            .eval(
                r#"
                fn lists() { #{ outage: ["no registra", "caido"], scope: ["todos los"] } }
                let a = find_signals("Todos los lectores no registran", "lists");
                let b = find_signals("el portal esta caido", "lists");
                #{ a_outage: a.outage, a_scope: a.scope, b_outage: b.outage, b_scope: b.scope }
                "#,
            )
            .unwrap();
        let get = |k: &str| -> Vec<String> {
            found[k]
                .clone()
                .into_array()
                .unwrap()
                .into_iter()
                .map(|d| d.into_string().unwrap())
                .collect()
        };
        assert_eq!(get("a_outage"), ["no registra"]);
        assert_eq!(get("a_scope"), ["todos los"]);
        assert_eq!(get("b_outage"), ["caido"]);
        assert!(get("b_scope").is_empty());
        let err = e
            .eval::<rhai::Map>(r#"find_signals("x", "no_such_lists")"#)
            .unwrap_err();
        assert!(err.to_string().contains("no_such_lists"), "{err}");
    }

    #[test]
    fn date_helpers() {
        let e = engine();
        assert_eq!(
            e.eval::<String>(r#"nth_weekday(2026, 2, "mon", 1)"#)
                .unwrap(),
            "2026-02-02"
        );
        assert_eq!(
            e.eval::<String>(r#"nth_weekday(2026, 3, "mon", 3)"#)
                .unwrap(),
            "2026-03-16"
        );
        assert_eq!(
            e.eval::<String>(r#"nth_weekday(2026, 5, "fri", -1)"#)
                .unwrap(),
            "2026-05-29"
        );
        assert_eq!(e.eval::<String>(r#"weekday("2026-09-16")"#).unwrap(), "wed");
        assert!(e.eval::<String>(r#"date(2026, 2, 30)"#).is_err());
        assert!(
            e.eval::<String>(r#"nth_weekday(2026, 2, "lunes", 1)"#)
                .is_err()
        );
        assert!(
            e.eval::<String>(r#"nth_weekday(2026, 2, "mon", 5)"#)
                .is_err()
        );
    }

    #[test]
    fn find_any_is_accent_insensitive() {
        let e = engine();
        let found: String = e
            .eval(r#"find_any("No opera NINGÚN equipo", ["caído", "ningun equipo"])"#)
            .unwrap();
        assert_eq!(found, "ningun equipo");
        assert_eq!(
            e.eval::<String>(r#"find_any("todo bien", ["caído"])"#)
                .unwrap(),
            ""
        );
    }

    #[test]
    fn eval_is_disabled() {
        let err = engine().eval::<i64>(r#"eval("1 + 1")"#).unwrap_err();
        assert!(err.to_string().contains("eval"), "{err}");
    }

    #[test]
    fn imports_resolve_only_inside_the_bundle() {
        let e = engine();
        let v: i64 = e.eval(r#"import "lib/util" as u; u::double(21)"#).unwrap();
        assert_eq!(v, 42);
        for path in ["/etc/passwd", "../lib/util", "lib/../lib/util", "nope"] {
            let err = e
                .eval::<i64>(&format!(r#"import "{path}" as u; 1"#))
                .unwrap_err();
            assert!(
                matches!(*err, EvalAltResult::ErrorModuleNotFound(..)),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn limits_stop_runaway_scripts() {
        let e = engine();
        let started = Instant::now();
        let err = e.eval::<()>("loop { }").unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorTooManyOperations(_)),
            "{err}"
        );
        // Stopped, not left running: generous, for an unoptimised build on a loaded machine.
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = e.eval::<()>("fn f(x) { f(x + 1) } f(0)").unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorStackOverflow(_)),
            "{err}"
        );
        let err = e
            .eval::<()>(r#"let s = "x"; loop { s += s; }"#)
            .unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorDataTooLarge(..)),
            "{err}"
        );
        let err = e.eval::<()>("let a = []; loop { a.push(1); }").unwrap_err();
        assert!(
            matches!(
                *err,
                EvalAltResult::ErrorDataTooLarge(..) | EvalAltResult::ErrorTooManyOperations(_)
            ),
            "{err}"
        );
    }

    #[test]
    fn wall_clock_guard_stops_a_call() {
        let e = engine();
        let _armed = CallDeadline(None);
        DEADLINE.with(|d| d.set(Some(Instant::now())));
        std::thread::sleep(Duration::from_millis(2));
        let err = e.eval::<()>("let x = 0; loop { x += 1; }").unwrap_err();
        assert!(matches!(*err, EvalAltResult::ErrorTerminated(..)), "{err}");
    }
}
