//! `wyvern`: fetch Wyvern imagery deliverables to disk, verified.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(wyvern_cli::main(std::env::args_os()))
}
