//! The web app's commands: `user`, `token` and `serve`. The command line acts as the library's
//! owner (`Actor::owner`), an admin under the `--actor` or OS name.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::args::{ServeArgs, TokenCommand, UserCommand};
use super::{actor, open, print_json, reply, Cli};
use crate::app::{users, Actor};
use crate::library::Access;

fn owner(cli: &Cli) -> Actor {
    Actor::owner(actor(cli))
}

pub fn user(cli: &Cli, dir: PathBuf, c: &UserCommand) -> anyhow::Result<ExitCode> {
    match c {
        UserCommand::Add { name, role } => {
            let password = new_password(name)?;
            let mut lib = open(&dir, Access::Write)?;
            let user = users::add_user(&mut lib.store, &owner(cli), name, *role, &password)?;
            reply(cli, &user, &format!("added user {} ({})", user.name, user.role))
        }
        UserCommand::List => {
            let mut lib = open(&dir, Access::Read)?;
            let list = users::list_users(&mut lib.store, &owner(cli))?;
            if cli.json {
                print_json(&serde_json::json!({ "users": list }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let width = list.iter().map(|u| u.name.chars().count()).max().unwrap_or(4).max(4);
            println!("{:>4}  {:<width$}  {:<6}  state", "id", "name", "role");
            for u in &list {
                let state = if u.disabled {
                    "disabled".to_string()
                } else if let Some(until) = &u.locked_until {
                    format!("locked until {until}")
                } else if u.failed_signins > 0 {
                    format!("{} failed sign-ins", u.failed_signins)
                } else {
                    "active".to_string()
                };
                println!("{:>4}  {:<width$}  {:<6}  {state}", u.id.0, u.name, u.role);
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Passwd { name } => {
            let password = new_password(name)?;
            let mut lib = open(&dir, Access::Write)?;
            users::set_password(&mut lib.store, &owner(cli), name, &password)?;
            reply(cli, &serde_json::json!({ "user": name, "password": "changed" }), &format!("changed the password of {name}; their sessions ended"))
        }
        UserCommand::Disable { name } => {
            let mut lib = open(&dir, Access::Write)?;
            let user = users::disable_user(&mut lib.store, &owner(cli), name)?;
            reply(cli, &user, &format!("disabled user {}; their sessions ended and their tokens stopped working", user.name))
        }
    }
}

pub fn token(cli: &Cli, dir: PathBuf, c: &TokenCommand) -> anyhow::Result<ExitCode> {
    let access = if matches!(c, TokenCommand::List) { Access::Read } else { Access::Write };
    let mut lib = open(&dir, access)?;
    match c {
        TokenCommand::Create { user, label } => {
            let t = users::create_token(&mut lib.store, &owner(cli), user, label.as_deref())?;
            let message = format!("token {} for {} (shown only now; keep it secret):\n{}", t.id, t.user, t.token);
            reply(cli, &t, &message)
        }
        TokenCommand::List => {
            let list = users::list_tokens(&mut lib.store, &owner(cli))?;
            if cli.json {
                print_json(&serde_json::json!({ "tokens": list }))?;
                return Ok(ExitCode::SUCCESS);
            }
            for t in &list {
                let state = t.revoked_at.as_deref().map_or_else(|| "active".to_string(), |r| format!("revoked {r}"));
                let used = t.last_used_at.as_deref().unwrap_or("never");
                println!("{:>4}  {}  {}  created {}  last used {used}  {state}", t.id, t.user, t.label.as_deref().unwrap_or("-"), t.created_at);
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id } => {
            users::revoke_token(&mut lib.store, &owner(cli), *id)?;
            reply(cli, &serde_json::json!({ "id": id, "revoked": true }), &format!("revoked token {id}"))
        }
    }
}

pub fn serve(cli: &Cli, dir: PathBuf, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    let mail = a.smtp_url.as_deref().map(|url| crate::mail::Mailer::new(url, &a.mail_from)).transpose()?;
    crate::web::serve(crate::web::Config { library: dir, listen: a.listen, tls, today: cli.now, models: cli.models.clone(), device: cli.device, mail })?;
    Ok(ExitCode::SUCCESS)
}

/// A new password for `name`: one line of standard input when it is not a terminal, else asked
/// for twice without echo.
fn new_password(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt_hidden(&format!("New password for {name}: "))?;
        let second = prompt_hidden("Again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if password.chars().count() < users::MIN_PASSWORD_CHARS {
        bail!("a password needs at least {} characters", users::MIN_PASSWORD_CHARS);
    }
    Ok(password)
}

/// Reads a line from the terminal with echo off, restoring the terminal afterwards.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal (checked by the caller).
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("cannot read the terminal settings: {}", std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: sets the settings read above with echo cleared.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: puts back the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
