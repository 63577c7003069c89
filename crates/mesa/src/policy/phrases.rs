//! Phrase lists searched in a ticket's text: the classifier's `find_all` and the exclusions'
//! `find_any`.
//!
//! The severity script keeps about 700 phrases in 20 lists and searches every new ticket for
//! each list. Searching once per phrase made that cost grow with phrases × text length (about
//! 130 µs for an ordinary ticket, 580 µs for a long e-mail). Each list is instead compiled
//! once into an Aho-Corasick automaton (one pass over the text finds every phrase) and kept
//! per engine. The script builds its lists anew on each call, but from the same string
//! literals: Rhai shares a literal's string, so a list is found again by the identity of its
//! strings, which the cache keeps alive (an address cannot be reused while it is kept).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map, NativeCallContext};

use super::engine::fold;

/// Phrase lists kept per engine before the cache is emptied: the shipped scripts use about
/// ten, so this only bounds a script that builds lists from ticket data.
const MAX_CACHED_LISTS: usize = 256;

/// One or more phrase lists compiled together for search.
struct PhraseSet {
    /// The lists as the script wrote them: what a match returns, and the cache's check.
    lists: Vec<Vec<ImmutableString>>,
    /// Every folded phrase that can match (an empty one never does), in one automaton.
    automaton: Option<AhoCorasick>,
    /// Per pattern: its list and its place in the list.
    origin: Vec<(usize, usize)>,
    /// Per pattern: whether its first byte is alphanumeric, so that it must start a word.
    starts_with_word: Vec<bool>,
    /// Per pattern: whether it must also end a word (see [`must_end_word`]).
    ends_word: Vec<bool>,
}

/// A phrase whose last word is a short function word ("los de", "no me", "a mi") must end
/// at a word end: "los de" is not in "los desconectamos". A longer last word may go on
/// ("lento" finds "lentos"), which is what lets one phrase cover plurals and conjugations.
fn must_end_word(phrase: &str) -> bool {
    let last = phrase.rsplit(' ').next().unwrap_or(phrase);
    last.chars().count() <= 3 && last.chars().last().is_some_and(char::is_alphanumeric)
}

impl PhraseSet {
    fn build(lists: Vec<Vec<ImmutableString>>) -> Self {
        let mut patterns = Vec::new();
        let mut origin = Vec::new();
        for (l, list) in lists.iter().enumerate() {
            for (i, phrase) in list.iter().enumerate() {
                let folded = folded(phrase).into_owned();
                if !folded.is_empty() {
                    patterns.push(folded);
                    origin.push((l, i));
                }
            }
        }
        let starts_with_word = patterns
            .iter()
            .map(|p| p.as_bytes()[0].is_ascii_alphanumeric())
            .collect();
        let ends_word = patterns.iter().map(|p| must_end_word(p)).collect();
        // Building only fails past limits far beyond a script's (Rhai caps arrays at 10 000
        // strings of 1 MiB); such lists then match nothing rather than failing the ticket.
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .ok()
        };
        Self {
            lists,
            automaton,
            origin,
            starts_with_word,
            ends_word,
        }
    }

    /// Whether these are the very strings of `lists`. Sound because the set keeps them alive:
    /// an address cannot be reused by other strings while it is kept.
    fn is(&self, lists: &[Vec<ImmutableString>]) -> bool {
        self.lists.len() == lists.len()
            && self
                .lists
                .iter()
                .zip(lists)
                .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.ptr_eq(y)))
    }

    /// Per list, the places of the phrases found in `text` (folded), in list order. With
    /// `at_word_start`, a phrase must begin a word ("solo" is not in "consolo"; "lento" is in
    /// "lentos").
    fn matches(&self, text: &str, at_word_start: bool) -> Vec<Vec<usize>> {
        let mut found: Vec<Vec<bool>> = self.lists.iter().map(|l| vec![false; l.len()]).collect();
        if let Some(automaton) = &self.automaton {
            let bytes = text.as_bytes();
            for m in automaton.find_overlapping_iter(text) {
                let pattern = m.pattern().as_usize();
                let starts_word = m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric();
                let ends_word = m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric();
                let at_start = starts_word || !self.starts_with_word[pattern];
                let at_end = ends_word || !self.ends_word[pattern];
                if !at_word_start || (at_start && at_end) {
                    let (l, i) = self.origin[pattern];
                    found[l][i] = true;
                }
            }
        }
        found
            .into_iter()
            .map(|hits| {
                hits.iter()
                    .enumerate()
                    .filter_map(|(i, hit)| hit.then_some(i))
                    .collect()
            })
            .collect()
    }

    /// The phrases of list `l` at `places`, as the script wrote them.
    fn phrases(&self, l: usize, places: &[usize]) -> Array {
        places
            .iter()
            .map(|&i| Dynamic::from(self.lists[l][i].clone()))
            .collect()
    }
}

/// The key type of a Rhai map (Rhai does not export its name).
type Name = <Map as KeyOf>::Key;
trait KeyOf {
    type Key;
}
impl<K, V> KeyOf for std::collections::BTreeMap<K, V> {
    type Key = K;
}

/// The compiled phrase lists of one engine.
#[derive(Default)]
pub(crate) struct PhraseCache {
    /// By the number of lists, of phrases, and the address of the first phrase.
    sets: Mutex<HashMap<(usize, usize, usize), Arc<PhraseSet>>>,
    /// Lists returned by a script's function without arguments, by script and function.
    named: Mutex<HashMap<(String, String), Arc<NamedLists>>>,
}

/// The lists a script function returned, by name, compiled together.
struct NamedLists {
    names: Vec<Name>,
    set: PhraseSet,
}

impl PhraseCache {
    /// Every phrase of `phrases` that occurs in `text` at a word start (both folded), in the
    /// order of the list: the signals a classification names in its reason.
    pub(crate) fn find_all(&self, text: &str, phrases: Array) -> Array {
        let set = self.compiled(vec![strings(phrases)]);
        let found = set.matches(&folded(text), true);
        set.phrases(0, &found[0])
    }

    /// `find_all` for every list of `lists` (a map of name to list) in one pass over the
    /// text: a map of the same names to the phrases found.
    pub(crate) fn find_signals(&self, text: &str, lists: Map) -> Map {
        let (names, lists) = named_lists(lists);
        let set = self.compiled(lists);
        let found = set.matches(&folded(text), true);
        signals_map(&set, names, found)
    }

    /// `find_signals` for the lists the script's function `function` returns. A Rhai function
    /// without arguments cannot read anything but its own body, so it is called once per
    /// engine (per loaded bundle) and its lists kept compiled: building some 700 phrases
    /// into lists anew for every ticket would cost more than searching them.
    pub(crate) fn find_named_signals(
        &self,
        context: &NativeCallContext,
        text: &str,
        function: &str,
    ) -> Result<Map, Box<EvalAltResult>> {
        let key = (
            context.call_source().unwrap_or_default().to_string(),
            function.to_string(),
        );
        let known = self
            .named
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let named = match known {
            Some(named) => named,
            None => {
                // Called without the lock held: the function may itself search text.
                let lists: Map = context.call_fn(function, ())?;
                let (names, lists) = named_lists(lists);
                let named = Arc::new(NamedLists {
                    names,
                    set: PhraseSet::build(lists),
                });
                let mut all = self.named.lock().unwrap_or_else(|e| e.into_inner());
                if all.len() >= MAX_CACHED_LISTS {
                    all.clear();
                }
                all.insert(key, named.clone());
                named
            }
        };
        let found = named.set.matches(&folded(text), true);
        Ok(signals_map(&named.set, named.names.iter().cloned(), found))
    }

    /// The first phrase of `phrases` (in list order) that occurs anywhere in `text` (both
    /// folded), or `""`.
    pub(crate) fn find_any(&self, text: &str, phrases: Array) -> String {
        let set = self.compiled(vec![strings(phrases)]);
        let found = set.matches(&folded(text), false);
        found[0]
            .first()
            .map(|&i| set.lists[0][i].to_string())
            .unwrap_or_default()
    }

    fn compiled(&self, lists: Vec<Vec<ImmutableString>>) -> Arc<PhraseSet> {
        let first = lists.iter().flatten().next();
        let key = (
            lists.len(),
            lists.iter().map(Vec::len).sum(),
            first.map_or(0, |p| p.as_str().as_ptr() as usize),
        );
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = sets.get(&key)
            && set.is(&lists)
        {
            return set.clone();
        }
        if sets.len() >= MAX_CACHED_LISTS {
            sets.clear();
        }
        let set = Arc::new(PhraseSet::build(lists));
        sets.insert(key, set.clone());
        set
    }
}

/// A map of name to list, as names and lists in the same order.
fn named_lists(lists: Map) -> (Vec<Name>, Vec<Vec<ImmutableString>>) {
    lists
        .into_iter()
        .map(|(name, list)| (name, strings(list.into_array().unwrap_or_default())))
        .unzip()
}

/// Each list's name with the phrases of it found.
fn signals_map(
    set: &PhraseSet,
    names: impl IntoIterator<Item = Name>,
    found: Vec<Vec<usize>>,
) -> Map {
    names
        .into_iter()
        .zip(found)
        .enumerate()
        .map(|(l, (name, places))| (name, Dynamic::from_array(set.phrases(l, &places))))
        .collect()
}

/// `text` (folded) with every occurrence of each phrase (folded) replaced, in list order:
/// phrases that name a fault without reporting one ("si algo falla") are taken out before the
/// signals are searched. A few phrases over one ticket's text: `str::replace` is enough.
pub(crate) fn replace_phrases(text: &str, phrases: Array, replacement: &str) -> String {
    let mut text = folded(text).into_owned();
    for phrase in strings(phrases) {
        let phrase = folded(&phrase);
        if !phrase.is_empty() && text.contains(phrase.as_ref()) {
            text = text.replace(phrase.as_ref(), replacement);
        }
    }
    text
}

/// `replace_phrases` with a replacement per phrase (a map of phrase to replacement).
pub(crate) fn replace_phrase_map(text: &str, replacements: Map) -> String {
    let mut text = folded(text).into_owned();
    for (phrase, replacement) in replacements {
        let phrase = folded(&phrase);
        let Ok(replacement) = replacement.into_immutable_string() else {
            continue;
        };
        if !phrase.is_empty() && text.contains(phrase.as_ref()) {
            text = text.replace(phrase.as_ref(), &replacement);
        }
    }
    text
}

/// The strings of a script's list (anything else in it is not a phrase).
fn strings(list: Array) -> Vec<ImmutableString> {
    list.into_iter()
        .filter_map(|p| p.into_immutable_string().ok())
        .collect()
}

/// `fold` without the copy when `text` is already folded (the usual keyword).
pub(crate) fn folded(text: &str) -> Cow<'_, str> {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase() && !b.is_ascii_whitespace() || b == b' ')
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ");
    if plain {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(fold(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(phrases: &[&str]) -> Array {
        phrases
            .iter()
            .map(|p| Dynamic::from(p.to_string()))
            .collect()
    }

    fn strings(found: Array) -> Vec<String> {
        found
            .into_iter()
            .map(|d| d.into_string().unwrap())
            .collect()
    }

    #[test]
    fn find_all_returns_phrases_at_a_word_start_in_list_order() {
        let cache = PhraseCache::default();
        let text = "Los LECTORES están lentos; el resto funciona. ¿Cómo le hago?";
        let found = cache.find_all(
            text,
            list(&["resto", "lento", "ento", "caido", "¿como le", ""]),
        );
        // "ento" is inside "lentos", not at a word start; "" matches nothing.
        assert_eq!(strings(found), ["resto", "lento", "¿como le"]);
        // A short last word must end a word: "los de" is not in "los desconectamos".
        let found = cache.find_all(
            "ya los desconectamos, a mitad",
            list(&["los de", "a mi", "los desconect"]),
        );
        assert_eq!(strings(found), ["los desconect"]);
        let found = cache.find_all("los de oficinas; a mi", list(&["los de", "a mi"]));
        assert_eq!(strings(found), ["los de", "a mi"]);
        // A phrase that occurs once inside a word and once at a word start is found.
        let found = cache.find_all("consolo y solo", list(&["solo"]));
        assert_eq!(strings(found), ["solo"]);
        assert!(cache.find_all("consolo", list(&["solo"])).is_empty());
    }

    #[test]
    fn overlapping_phrases_are_all_found() {
        let cache = PhraseCache::default();
        let found = cache.find_all(
            "no esta funcionando nada",
            list(&["no esta funcionando", "funcionando nada", "nada", "esta"]),
        );
        assert_eq!(
            strings(found),
            ["no esta funcionando", "funcionando nada", "nada", "esta"]
        );
    }

    #[test]
    fn find_any_returns_the_first_phrase_of_the_list_found_anywhere() {
        let cache = PhraseCache::default();
        let text = "No opera NINGÚN equipo";
        assert_eq!(
            cache.find_any(text, list(&["caído", "ningun equipo", "opera"])),
            "ningun equipo"
        );
        assert_eq!(cache.find_any("consolo", list(&["solo"])), "solo");
        assert_eq!(cache.find_any("todo bien", list(&["caído"])), "");
    }

    #[test]
    fn find_signals_searches_every_named_list_at_once() {
        let cache = PhraseCache::default();
        let mut lists = Map::new();
        lists.insert(
            "outage".into(),
            Dynamic::from_array(list(&["no registra", "caido"])),
        );
        lists.insert(
            "scope".into(),
            Dynamic::from_array(list(&["todos los", "algunos", "los"])),
        );
        lists.insert("none".into(), Dynamic::from_array(list(&[])));
        let found = cache.find_signals("Todos los lectores NO REGISTRAN", lists);
        let get = |name: &str| strings(found[name].clone().into_array().unwrap());
        assert_eq!(get("outage"), ["no registra"]);
        assert_eq!(get("scope"), ["todos los", "los"]);
        assert!(get("none").is_empty());
    }

    #[test]
    fn phrases_are_replaced_in_the_folded_text() {
        assert_eq!(
            replace_phrases(
                "Si algo FALLA les aviso; no hay fallas",
                list(&["si algo falla", "no hay fallas", ""]),
                " "
            ),
            "  les aviso;  "
        );
        let mut map = Map::new();
        map.insert(
            "reconoce a nadie".into(),
            Dynamic::from("reconoce a las personas".to_string()),
        );
        assert_eq!(
            replace_phrase_map("El lector no reconoce a NADIE", map),
            "el lector no reconoce a las personas"
        );
    }

    #[test]
    fn a_list_is_compiled_once_and_a_different_list_is_not_confused_with_it() {
        let cache = PhraseCache::default();
        let shared = list(&["a", "b"]);
        assert_eq!(strings(cache.find_all("a b", shared.clone())), ["a", "b"]);
        assert_eq!(strings(cache.find_all("a b", shared.clone())), ["a", "b"]);
        assert_eq!(cache.sets.lock().unwrap().len(), 1);
        // Same length, other strings: never the first list's matches.
        assert_eq!(
            strings(cache.find_all("b c", list(&["b", "c"]))),
            ["b", "c"]
        );
        assert_eq!(strings(cache.find_all("a b", list(&["b"]))), ["b"]);
        assert_eq!(strings(cache.find_all("a b", shared)), ["a", "b"]);
    }

    #[test]
    fn the_cache_stays_bounded_when_a_script_builds_lists_from_data() {
        let cache = PhraseCache::default();
        for i in 0..(MAX_CACHED_LISTS * 2) {
            let phrase = format!("frase {i}");
            assert_eq!(strings(cache.find_all(&phrase, list(&[&phrase]))), [phrase]);
        }
        assert!(cache.sets.lock().unwrap().len() <= MAX_CACHED_LISTS);
    }
}
