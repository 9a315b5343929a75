//! `flotilla user …`: manage accounts of the node directly in its database, also while the
//! node runs.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use node::config::ConfigLayer;
use node::credentials;
use node::identity::NodeIdentity;
use node::store::{self, StoreError, accounts};

use crate::node_args::NodeArgs;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account. The password is prompted for on a terminal, otherwise read from the
    /// first line of standard input.
    Add(AddArgs),
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The localpart of the new user ID (a-z, 0-9 and ._=-/+).
    name: String,
    /// Make the user an administrator of this node.
    #[arg(long)]
    admin: bool,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => add(args),
    }
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    credentials::check_localpart(&args.name)
        .map_err(|reason| anyhow::anyhow!("invalid user name {:?}: {reason}", args.name))?;
    let config = args.node.load(ConfigLayer::default())?;
    let identity =
        NodeIdentity::load_or_create(&config.data_dir).context("cannot load the node identity")?;
    let user_id = format!("@{}:{}", args.name, identity.server_name());
    let password = read_password()?;
    let password_hash = credentials::hash_password(&password)?;
    let connection = store::open_connection(&config.database_file())?;
    let created = accounts::create_user(
        &connection,
        &accounts::NewUser {
            user_id: &user_id,
            localpart: &args.name,
            password_hash: Some(&password_hash),
            is_admin: args.admin,
        },
    );
    match created {
        Ok(()) => {
            println!("{user_id}");
            Ok(())
        }
        Err(StoreError::UserExists) => bail!("user {user_id} already exists"),
        Err(error) => Err(error.into()),
    }
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second =
            rpassword::prompt_password("Password again: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}
