//! URLs as people and logs may see them: no query, fragment or credentials.

use url::Url;

/// A URL as it may be shown to people and logs: without query, fragment or credentials
/// (presigned-URL signatures live in the query and are secrets too).
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Both fail only for URLs that cannot carry credentials, which is fine to ignore.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.into()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn strips_query_fragment_and_credentials() {
        let url = url::Url::parse("https://u:p@host:9/a/b.zip?X-Amz-Signature=abc#frag").expect("url");
        assert_eq!(redact_url(&url), "https://host:9/a/b.zip");
    }
}
