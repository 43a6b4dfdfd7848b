//! Counts in words that agree with them: `1 attempt`, `2 attempts`.

/// `n` and the noun, singular for one, plural otherwise: `counted(1, "attempt", "attempts")` is
/// `1 attempt`.
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(counted(1u32, "attempt", "attempts"), "1 attempt");
        assert_eq!(counted(0u32, "deliverable", "deliverables"), "0 deliverables");
        assert_eq!(counted(2u64, "entry", "entries"), "2 entries");
    }
}
