//! `wyvern auth login` and `logout`: the prompts. The token itself is found, cached and
//! refreshed by [`wyvern_credentials`], as for every front-end.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use wyvern_core::Client;

use crate::error::{Context, Failure};

/// `wyvern auth login`: asks for the credentials (the username unless given) and stores the
/// token.
pub(crate) async fn login(api: &Client, username: Option<String>) -> Result<PathBuf, Failure> {
    let (username, password) = tokio::task::spawn_blocking(move || prompt(username))
        .await
        .map_err(|e| Failure::local(format!("reading the credentials: {e}")))??;
    Ok(wyvern_credentials::login(api, &username, &password).await?)
}

/// The username (asked for unless given) and the password (read without echo on a terminal).
fn prompt(username: Option<String>) -> Result<(String, String), Failure> {
    let stdin = std::io::stdin();
    let username = match username {
        Some(name) => name,
        None => {
            eprint!("username: ");
            std::io::stderr().flush().ok();
            read_line(&mut stdin.lock())?
        }
    };
    let password = if stdin.is_terminal() {
        rpassword::prompt_password("password: ").context(|| "reading the password".to_owned())?
    } else {
        read_line(&mut stdin.lock())?
    };
    Ok((username, password))
}

fn read_line(input: &mut impl BufRead) -> Result<String, Failure> {
    let mut line = String::new();
    input.read_line(&mut line).context(|| "reading stdin".to_owned())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
