//! Which sink a destination URL names: schemes mapped to factories, the built-in ones and any a
//! sink crate registers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use crate::{Error, LocalSink, Result, Sink};

/// Builds a sink for a destination URL of its scheme.
pub type SinkFactory = Arc<dyn Fn(&Url) -> Result<Arc<dyn Sink>> + Send + Sync>;

/// Maps URL schemes to sink factories; `--to` is resolved through it.
///
/// A destination without `://` is a local path. `file://` URLs are local too. The built-in cloud
/// schemes (`s3`, `s3a`, `gs`, `az`, `azure`, `abfs`, `abfss`, `adl`, and `https` URLs of the
/// clouds' endpoints, as `object_store` recognises them) build `object_store` stores from the standard environment variables
/// (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, SinkFactory>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("schemes", &self.schemes()).finish()
    }
}

impl Registry {
    /// The registry with `add` applied: `Registry::with_builtins().with(my_sink::register)` is the
    /// built-in schemes and a sink crate's.
    #[must_use]
    pub fn with(mut self, add: impl FnOnce(&mut Self)) -> Self {
        add(&mut self);
        self
    }

    /// A registry with `file` and the cloud schemes this build supports.
    pub fn with_builtins() -> Self {
        let mut registry = Self::default();
        registry.register("file", Arc::new(|url: &Url| local_from_url(url)));
        for scheme in crate::object::builtin_schemes() {
            registry.register(scheme, Arc::new(crate::object::from_url));
        }
        registry
    }

    /// Adds (or replaces) the factory of a scheme.
    pub fn register(&mut self, scheme: &str, factory: SinkFactory) {
        self.factories.insert(scheme.to_ascii_lowercase(), factory);
    }

    /// The schemes known, sorted.
    pub fn schemes(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// The sink for a destination: a local path, or a URL of a registered scheme. A path that
    /// looks like a URL of a known scheme with a mistyped `://` (`s3:/bucket`, `s3//bucket`,
    /// `gs:bucket`) is refused, not taken for a folder named `s3:`.
    pub fn resolve(&self, destination: &str) -> Result<Arc<dyn Sink>> {
        let invalid = |reason: String| Error::InvalidDestination { location: destination.to_owned(), reason };
        if !destination.contains("://") {
            if let Some(meant) = self.mistyped(destination) {
                return Err(invalid(format!("it looks like a URL with a mistyped `://`: did you mean {meant}?")));
            }
            return Ok(Arc::new(LocalSink::new(destination)));
        }
        let url = Url::parse(destination).map_err(|e| invalid(e.to_string()))?;
        if let Some(feature) = crate::object::left_out(url.scheme()) {
            return Err(Error::NotBuilt { location: destination.to_owned(), feature });
        }
        let factory = self.factories.get(url.scheme()).ok_or_else(|| {
            invalid(format!("no sink for the scheme {:?}; known schemes: {}", url.scheme(), self.schemes().join(", ")))
        })?;
        factory(&url)
    }
}

impl Registry {
    /// The URL `path` was probably meant to be, when it starts with a known scheme followed by
    /// `:` or `//` (a one-letter scheme is a Windows drive, never a mistake).
    fn mistyped(&self, path: &str) -> Option<String> {
        let end = path.find([':', '/'])?;
        let (scheme, rest) = path.split_at(end);
        let known = scheme.len() > 1 && self.factories.contains_key(&scheme.to_ascii_lowercase());
        let typo = rest.starts_with(':') || rest.starts_with("//");
        // A file URL's path is absolute: `file:///tmp/x`.
        let slashes = if scheme.eq_ignore_ascii_case("file") { ":///" } else { "://" };
        (known && typo).then(|| format!("{scheme}{slashes}{}", rest.trim_start_matches([':', '/'])))
    }
}

fn local_from_url(url: &Url) -> Result<Arc<dyn Sink>> {
    let path: PathBuf = url.to_file_path().map_err(|()| Error::InvalidDestination {
        location: url.to_string(),
        reason: "a file:// URL must be an absolute local path".to_owned(),
    })?;
    Ok(Arc::new(LocalSink::new(path)))
}
