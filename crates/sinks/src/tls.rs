//! TLS for the sinks that speak HTTPS (object stores, WebDAV).
//!
//! reqwest, and so object_store's clients, is built without a TLS provider of its own
//! (`rustls-no-provider`): rustls's aws-lc-rs provider is a C library whose build cost more than
//! a minute of every fresh build. The process uses rustls's `ring` provider instead, installed
//! here as the process default before a client is built.

/// Installs rustls's `ring` provider as the process default, unless one is installed already.
/// Call it before building an HTTP client (a sink crate of your own that uses reqwest too);
/// calling it again is harmless.
pub fn install() {
    // An error means a provider is installed already: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
