//! The rules a running process uses: swapped whole for a newer bundle that passes its
//! checks, never for one that fails (last known good).

use super::*;

/// The bundle a process runs, replaced only by one that loads and passes its vectors.
pub struct LiveRules {
    current: RwLock<Arc<Policy>>,
}

impl LiveRules {
    pub fn new(policy: Policy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
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
        let next = Policy::activate(bundle)?;
        let version = next.version.clone();
        let mut slot = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(next);
        Ok(version)
    }
}
