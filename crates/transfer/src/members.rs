//! Which members of a deliverable to fetch: `--include` and `--exclude` globs.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which members of each deliverable to fetch instead of the whole zip: those an `include` glob
/// matches (every member when there is none) that no `exclude` glob matches.
///
/// A glob with a `/` is matched against the member's whole path, one without against its name
/// alone (`*.json` is every JSON member, in any folder); `*` and `?` stay within a path's
/// segment, `**` crosses them, `{a,b}` is either; case counts. Folder entries are never fetched.
#[derive(Debug, Clone)]
pub struct Members {
    chosen: Chosen,
    include: GlobSet,
    exclude: GlobSet,
}

/// The globs of a [`Members`], as a receipt records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    /// `--include` globs.
    #[serde(default)]
    pub include: Vec<String>,
    /// `--exclude` globs.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Members {
    /// The members `include` (all when empty) and not `exclude` choose; `None` when both are
    /// empty (every member: the whole zip). A glob that cannot be read is an error.
    pub fn new(mut include: Vec<String>, mut exclude: Vec<String>) -> Result<Option<Self>> {
        // In one order, once each: the same choice is the same whatever order it was given in.
        for globs in [&mut include, &mut exclude] {
            globs.sort();
            globs.dedup();
        }
        if include.is_empty() && exclude.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self { include: set(&include)?, exclude: set(&exclude)?, chosen: Chosen { include, exclude } }))
    }

    /// Whether the member `name` is chosen.
    pub fn matches(&self, name: &str) -> bool {
        if name.ends_with('/') {
            return false;
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        let hit = |set: &GlobSet| set.matches(name).into_iter().chain(set.matches(base)).next().is_some();
        (self.chosen.include.is_empty() || hit(&self.include)) && !hit(&self.exclude)
    }

    /// The globs.
    pub fn chosen(&self) -> &Chosen {
        &self.chosen
    }
}

impl std::fmt::Display for Chosen {
    /// As the command line gives them: `--include '*.json' --exclude 'x/**'`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let globs = self.include.iter().map(|g| ("include", g)).chain(self.exclude.iter().map(|g| ("exclude", g)));
        for (n, (option, glob)) in globs.enumerate() {
            let space = if n == 0 { "" } else { " " };
            write!(f, "{space}--{option} '{}'", wyvern_core::printable(glob))?;
        }
        Ok(())
    }
}

/// One set of globs. A glob without `/` must match a name alone; one with it, a whole path.
fn set(globs: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let parsed = GlobBuilder::new(glob).literal_separator(true).build().map_err(|e| Error::Invalid {
            message: format!("{:?} is not a glob this tool can read: {e}", wyvern_core::printable(glob)),
            hint: Some("globs use *, ?, ** (across folders), [abc] and {a,b}; quote them from the shell".to_owned()),
        })?;
        set.add(parsed);
    }
    set.build().map_err(|e| Error::Invalid { message: e.to_string(), hint: None })
}

#[cfg(test)]
mod tests {
    use super::Members;

    fn members(include: &[&str], exclude: &[&str]) -> Members {
        let owned = |globs: &[&str]| globs.iter().map(|g| (*g).to_owned()).collect();
        Members::new(owned(include), owned(exclude)).unwrap().unwrap()
    }

    #[test]
    fn globs_without_a_slash_match_names_in_any_folder() {
        let json = members(&["*.json"], &[]);
        assert!(json.matches("item.json"));
        assert!(json.matches("scene/item.json"));
        assert!(!json.matches("scene/image.tif"));
        assert!(!json.matches("scene/"), "folder entries are never chosen");
    }

    #[test]
    fn globs_with_a_slash_match_whole_paths_and_stars_stay_in_a_segment() {
        let top = members(&["scene/*.tif"], &[]);
        assert!(top.matches("scene/a.tif"));
        assert!(!top.matches("scene/deeper/a.tif"));
        assert!(members(&["scene/**/*.tif"], &[]).matches("scene/deeper/a.tif"));
    }

    #[test]
    fn excludes_win_and_exclude_alone_keeps_the_rest() {
        let some = members(&["*.tif"], &["*_mask.tif"]);
        assert!(some.matches("a.tif"));
        assert!(!some.matches("a_mask.tif"));
        let rest = members(&[], &["*.tif"]);
        assert!(rest.matches("item.json"));
        assert!(!rest.matches("a.TIF.tif"));
        assert!(rest.matches("a.TIF"), "case counts");
    }

    #[test]
    fn nothing_given_is_every_member_and_bad_globs_are_refused() {
        assert!(Members::new(Vec::new(), Vec::new()).unwrap().is_none());
        assert!(Members::new(vec!["[a".to_owned()], Vec::new()).is_err());
        assert_eq!(members(&["*.json"], &["x/**"]).chosen().to_string(), "--include '*.json' --exclude 'x/**'");
        assert_eq!(members(&["b", "a", "b"], &[]).chosen(), members(&["a", "b"], &[]).chosen());
    }
}
