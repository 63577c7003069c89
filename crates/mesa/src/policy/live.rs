//! The rules a running process uses, swapped atomically when a new bundle loads and passes its
//! checks, never for one that fails (last known good).

use super::*;

/// The bundle a process runs, replaced only by one that loads and passes its vectors. It
/// keeps the bundle it replaced: a bundle that passed its vectors can still fail at run time
/// on one ticket's text, and that ticket is then opened under the one before.
pub struct LiveRules {
    current: RwLock<Arc<Policy>>,
    /// The bundle that ran before `current` (none until a first replacement).
    previous: RwLock<Option<Arc<Policy>>>,
}

impl LiveRules {
    pub fn new(policy: Policy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
            previous: RwLock::new(None),
        }
    }

    pub fn current(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Activates `bundle` if it compiles and passes its vectors; otherwise the running
    /// bundle stays (last known good) and the error says why.
    pub fn try_replace(&self, bundle: Bundle) -> Result<RulesVersion, PolicyError> {
        if bundle.version() == *self.current().version() {
            return Ok(bundle.version());
        }
        let next = Arc::new(Policy::activate(bundle)?);
        let version = next.version.clone();
        let replaced = {
            let mut slot = match self.current.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::replace(&mut *slot, next)
        };
        match self.previous.write() {
            Ok(mut g) => *g = Some(replaced),
            Err(poisoned) => *poisoned.into_inner() = Some(replaced),
        }
        Ok(version)
    }

    /// The bundles to try, in order, when `failed` fails at run time on one ticket: the
    /// running one (if another bundle was published meanwhile), the last known good one (the
    /// bundle the running one replaced), then the built-in contract. Each is given once, and
    /// never `failed` itself.
    pub fn fallbacks(&self, failed: &Policy) -> Vec<Arc<Policy>> {
        let previous = match self.previous.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut out: Vec<Arc<Policy>> = Vec::new();
        let current = self.current();
        for candidate in [Some(current), previous, built_in()].into_iter().flatten() {
            if candidate.version() != failed.version()
                && out.iter().all(|p| p.version() != candidate.version())
            {
                out.push(candidate);
            }
        }
        out
    }
}

/// The built-in contract, activated the first time a fallback needs it (it checked its
/// vectors when the binary was tested; activating it takes a few milliseconds).
fn built_in() -> Option<Arc<Policy>> {
    static BUILT_IN: std::sync::OnceLock<Option<Arc<Policy>>> = std::sync::OnceLock::new();
    BUILT_IN
        .get_or_init(|| Policy::activate(Bundle::built_in()).ok().map(Arc::new))
        .clone()
}
